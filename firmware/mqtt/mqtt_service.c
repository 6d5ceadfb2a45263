/* SPDX-License-Identifier: MIT */
/* The MQTT service on the core thread: status and last will, health topics, commands. */
#include <errno.h>
#include <inttypes.h>
#include <mqtt_protocol.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt_internal.h"
#include "sk_build_info.h"
#include "storekeeper/clock.h"
#include "storekeeper/command.h"
#include "storekeeper/core.h"
#include "storekeeper/error.h"
#include "storekeeper/fusion.h"
#include "storekeeper/ledger.h"
#include "storekeeper/log.h"
#include "storekeeper/mqtt.h"
#include "storekeeper/runtime.h"

/*
 * DESIGN
 * The service is the half of the link that runs on the core thread. It reacts to the link's
 * observations (connected, disconnected, PUBACK, commands) through the runtime's handle() hook
 * and publishes through sk_mqtt_link_publish() naming the connection generation it was told
 * about, so nothing it sends or credits can leak into a later connection.
 *
 * On every CONNECTED it publishes the birth (retained `status` "online"), the retained health
 * of every configured reader and camera, and the outbox high-water mark; the last will
 * ("offline") was registered with the connection by the link thread. A clean stop publishes
 * "stopped" before the MQTT DISCONNECT, which makes the broker drop the will.
 *
 * Commands are parsed and validated here (command.c). Read-only ones (ping, diag, rebirth) are
 * answered here; state-changing ones go to the core (sk_core_command) and config_reload to the
 * runtime, the same path as SIGHUP. Every command gets exactly one reply: on the MQTT 5
 * response topic with its correlation data when given, else on .../reply/<name>.
 */

#define DIAG_PENDING_MAX 8
#define DIAG_TIMEOUT_US  5000000
#define HOUSEKEEP_MS     250 /* also how soon rows committed by other processes are seen */
#define AUDIT_EVERY      40  /* housekeeping rounds between two outbox audits (10 s) */

struct source {
    char name[SK_NAME_MAX];
    bool camera;
    bool reported;         /* a health observation arrived */
    struct sk_obs health;  /* the last one */
    int64_t since_wall_us; /* when the state last changed */
};

struct reply_to {
    char topic[SK_TOPIC_MAX];
    uint8_t correlation[256];
    size_t correlation_len;
    char request_id[SK_CMD_ID_MAX];
    const char *command;
    int64_t repeat_of_us; /* a repeat: when the request was first answered; else 0 */
};

struct pending_echo {
    bool used;
    char token[40];
    int64_t sent_mono_us;
    struct reply_to to;
};

struct svc {
    struct sk_runtime *rt;
    struct sk_mqtt_link *link;
    struct sk_ledger *ledger; /* borrowed from the runtime; NULL without one */
    char ledger_id[SK_LEDGER_ID_LEN + 1];
    struct sk_mqtt_outbox *outbox;
    struct mqtt_sat *sat; /* the store's other boards; NULL on a single board */
    struct sk_loop_timer *housekeep;
    struct sk_loop_timer *kick; /* one-shot: drain right after a commit */
    bool kick_armed;
    uint64_t rounds;
    bool hwm_dirty;
    int64_t last_hwm_mono_us;
    int64_t hwm_cost_us; /* how long the last outbox count took */
    int64_t last_status_seq;
    bool up;
    bool warned_packet_limit;
    uint32_t gen;
    int protocol;
    bool tls;
    int64_t started_wall_us;
    int64_t connected_wall_us;
    struct source *sources;
    size_t n_sources;
    struct pending_echo echoes[DIAG_PENDING_MAX];
    struct sk_complain conn_complaint;
    int64_t last_stats_mono_us;
    /* counters for stats and diag */
    uint64_t published, publish_errors, commands, command_errors, connects, disconnects;
};

static const struct sk_config *cfg(struct svc *s)
{
    return sk_runtime_config(s->rt);
}

static int64_t now_wall(struct svc *s)
{
    return sk_clock_wall_us(sk_runtime_clock(s->rt));
}

static int64_t now_mono(struct svc *s)
{
    return sk_clock_mono_us(sk_runtime_clock(s->rt));
}

/* The newest event seq committed: the `seq` of messages that are not events. */
static int64_t head_seq(struct svc *s)
{
    return s->outbox ? mqtt_outbox_head(s->outbox) : 0;
}

static void env_init(struct svc *s, struct sk_mqtt_env *env, const char *schema, int64_t time_us)
{
    env->schema = schema;
    env->store_id = cfg(s)->store_id;
    env->device_id = cfg(s)->device_id;
    env->ledger_id = s->ledger_id;
    env->seq = head_seq(s);
    env->time_us = time_us;
    env->published_us = now_wall(s);
}

/* Publishes an owned payload (freed here) on suffix under the device prefix, or on the full
 * topic when full_topic is set. */
static int publish(struct svc *s,
                   const char *suffix,
                   const char *full_topic,
                   char *payload,
                   const struct sk_mqtt_pub *pub)
{
    if (!payload) {
        s->publish_errors++;
        return -ENOMEM;
    }
    char topic[SK_TOPIC_MAX];
    if (full_topic) {
        snprintf(topic, sizeof(topic), "%s", full_topic);
    } else if (sk_mqtt_topic(cfg(s), suffix, topic, sizeof(topic)) < 0) {
        free(payload);
        s->publish_errors++;
        return -ENAMETOOLONG;
    }
    int r = -ENOTCONN;
    if (s->up) {
        r = sk_mqtt_link_publish(s->link, s->gen, topic, payload, strlen(payload), pub, NULL);
    }
    free(payload);
    if (r < 0) {
        s->publish_errors++;
        sk_log(SK_LOG_DEBUG, "mqtt", NULL, "publish to %s failed: %s", topic, sk_strerror(r));
    } else {
        s->published++;
    }
    return r;
}

static const struct sk_mqtt_pub retained = {.qos = 1, .retain = true};

/* ---- status --------------------------------------------------------------------------------- */

static void publish_status(struct svc *s, const char *state, const char *reason)
{
    const struct sk_config *c = cfg(s);
    struct sk_mqtt_env env;
    env_init(s, &env, SK_SCHEMA_STATUS, s->connected_wall_us ? s->connected_wall_us : now_wall(s));
    if (strcmp(state, "online") != 0) {
        env.time_us = now_wall(s);
    }
    cJSON *o = sk_mqtt_env_new(&env);
    if (!o) {
        return;
    }
    cJSON_AddStringToObject(o, "state", state);
    cJSON_AddNumberToObject(o, "bd_seq", s->gen);
    sk_mqtt_add_time(o, "started", s->started_wall_us);
    if (reason) {
        cJSON_AddStringToObject(o, "reason", reason);
    }
    cJSON_AddStringToObject(o, "version", SK_VERSION);
    if (SK_GIT_DESCRIBE[0]) {
        cJSON_AddStringToObject(o, "git", SK_GIT_DESCRIBE);
    }
    cJSON_AddStringToObject(o, "config_hash", c->hash);
    cJSON_AddStringToObject(o, "board", c->board.name);
    cJSON_AddStringToObject(o, "protocol", s->protocol == 5 ? "5" : "3.1.1");
    cJSON *readers = cJSON_AddArrayToObject(o, "readers");
    for (size_t i = 0; readers && i < c->n_readers; i++) {
        cJSON_AddItemToArray(readers, cJSON_CreateString(c->readers[i].name));
    }
    cJSON *cams = cJSON_AddArrayToObject(o, "cameras");
    for (size_t i = 0; cams && i < c->n_cameras; i++) {
        cJSON_AddItemToArray(cams, cJSON_CreateString(c->cameras[i].name));
    }
    cJSON *cmds = cJSON_AddArrayToObject(o, "commands");
    for (int k = SK_CMD_NONE + 1; cmds && k < SK_CMD_KIND_COUNT; k++) {
        cJSON_AddItemToArray(cmds, cJSON_CreateString(sk_cmd_name((enum sk_cmd_kind)k)));
    }
    publish(s, "status", NULL, sk_mqtt_print_free(o), &retained);
}

/* ---- health --------------------------------------------------------------------------------- */

static struct source *find_source(struct svc *s, const char *name, bool camera)
{
    for (size_t i = 0; i < s->n_sources; i++) {
        if (s->sources[i].camera == camera && strcmp(s->sources[i].name, name) == 0) {
            return &s->sources[i];
        }
    }
    return NULL;
}

static void publish_health(struct svc *s, const struct source *src)
{
    const struct sk_obs_health *h = &src->health.u.health;
    struct sk_mqtt_env env;
    env_init(s, &env, SK_SCHEMA_HEALTH, src->reported ? src->health.wall_us : now_wall(s));
    cJSON *o = sk_mqtt_env_new(&env);
    if (!o) {
        return;
    }
    cJSON_AddStringToObject(o, "kind", src->camera ? "camera" : "reader");
    cJSON_AddStringToObject(o, "name", src->name);
    cJSON_AddStringToObject(o, "state", sk_health_state_name(src->reported ? h->state : 0));
    cJSON_AddStringToObject(o, "reason", sk_health_reason_name(src->reported ? h->reason : 0));
    if (src->reported) {
        if (h->detail[0]) {
            cJSON_AddStringToObject(o, "detail", h->detail);
        }
        cJSON_AddNumberToObject(o, "errors", h->errors);
        if (h->rtt_us) {
            cJSON_AddNumberToObject(o, "rtt_ms", (double)h->rtt_us / 1000.0);
        }
        sk_mqtt_add_time(o, "since", src->since_wall_us);
    }
    char suffix[SK_TOPIC_MAX];
    snprintf(suffix, sizeof(suffix), "%s/%s/status", src->camera ? "camera" : "reader", src->name);
    publish(s, suffix, NULL, sk_mqtt_print_free(o), &retained);
}

static void on_health(struct svc *s, const struct sk_obs *obs)
{
    bool camera = obs->type == SK_OBS_CAMERA_HEALTH;
    struct source *src = find_source(s, obs->source, camera);
    if (!src) {
        sk_log(SK_LOG_DEBUG, "mqtt", NULL, "health of unknown %s %s not published",
               camera ? "camera" : "reader", obs->source);
        return;
    }
    bool changed = !src->reported || src->health.u.health.state != obs->u.health.state ||
                   src->health.u.health.reason != obs->u.health.reason;
    if (changed) {
        src->since_wall_us = obs->wall_us;
    }
    src->health = *obs;
    src->reported = true;
    /* Unchanged reports refresh counters only: they are retained, so every update would be
     * stored by the broker; state changes are what subscribers act on. */
    if (changed && s->up) {
        publish_health(s, src);
    }
}

static void publish_all_health(struct svc *s)
{
    for (size_t i = 0; i < s->n_sources; i++) {
        publish_health(s, &s->sources[i]);
    }
}

/* ---- outbox ---------------------------------------------------------------------------------- */

/* The fields the outbox high-water mark and the ledger command's result share, in this order:
 * the oldest pending event, overflow, and where the book ends, held by the broker for the
 * cloud: with ledger_id and last_seq, what a later message must not fall behind
 * (docs/ledger.md, "Rollback"). */
static void add_outbox_end(cJSON *o, const struct sk_outbox_stats *st)
{
    if (st->oldest_pending_us) {
        sk_mqtt_add_time(o, "oldest_pending", st->oldest_pending_us);
    }
    cJSON_AddBoolToObject(o, "overflow", st->overflow);
    cJSON_AddNumberToObject(o, "movement_id", (double)st->last_movement_id);
    if (st->head[0]) {
        cJSON_AddStringToObject(o, "head", st->head);
    }
}

/* The retained high-water mark: how far the event stream goes and how much of it is in. */
static void publish_hwm(struct svc *s, bool force)
{
    /* A satellite's outbox holds its observations for the hub, not events for the cloud. */
    if (!s->ledger || !s->up || cfg(s)->role == SK_ROLE_SATELLITE) {
        return;
    }
    int64_t now = now_mono(s);
    /* The counts behind the mark are SQL COUNTs over the pending rows: with a long backlog on
     * a slow card they take time, so the interval stretches to keep them under 5 % of the
     * core thread's time. */
    int64_t interval = (int64_t)cfg(s)->mqtt.hwm_interval_ms * 1000;
    if (interval < 20 * s->hwm_cost_us) {
        interval = 20 * s->hwm_cost_us;
    }
    if (!force && (!s->hwm_dirty || now - s->last_hwm_mono_us < interval)) {
        return;
    }
    struct sk_outbox_stats st;
    int r = sk_ledger_outbox_stats(s->ledger, &st);
    s->hwm_cost_us = now_mono(s) - now;
    if (r < 0) {
        return;
    }
    s->hwm_dirty = false;
    s->last_hwm_mono_us = now;
    int64_t head = head_seq(s);
    struct sk_mqtt_env env;
    env_init(s, &env, SK_SCHEMA_OUTBOX, now_wall(s));
    cJSON *o = sk_mqtt_env_new(&env);
    if (!o) {
        return;
    }
    int64_t delivered = st.first_pending_seq > 0 ? st.first_pending_seq - 1 : head;
    if (delivered > head) {
        delivered = head;
    }
    cJSON_AddNumberToObject(o, "last_seq", (double)head);
    cJSON_AddNumberToObject(o, "delivered_seq", (double)delivered);
    cJSON_AddNumberToObject(o, "pending", (double)st.pending);
    add_outbox_end(o, &st);
    publish(s, "outbox", NULL, sk_mqtt_print_free(o), &retained);
}

static void drain(struct svc *s)
{
    if (!s->outbox) {
        return;
    }
    int r = mqtt_outbox_fill(s->outbox);
    if (r > 0) {
        s->hwm_dirty = true;
        sk_mqtt_link_set_seq(s->link, head_seq(s));
    } else if (r < 0 && r != -ENOTCONN) {
        sk_log(SK_LOG_DEBUG, "mqtt", NULL, "outbox drain: %s", sk_strerror(r));
    }
}

static void on_kick(struct sk_loop *loop, uint64_t expirations, void *ctx)
{
    (void)loop;
    (void)expirations;
    struct svc *s = ctx;
    s->kick_armed = false;
    drain(s);
}

/* The ledger committed events: drain as soon as the loop is free (not inside the commit). */
static void on_commit(int64_t last_seq, void *ctx)
{
    struct svc *s = ctx;
    mqtt_outbox_note_head(s->outbox, last_seq);
    sk_mqtt_link_set_seq(s->link, last_seq);
    s->hwm_dirty = true;
    if (s->up && !s->kick_armed && sk_loop_timer_set(s->kick, 1, 0) == 0) {
        s->kick_armed = true;
    }
}

static int first_pending_cb(const struct sk_outbox_row *row, void *ctx)
{
    *(int64_t *)ctx = row->seq;
    return 1;
}

static cJSON *ledger_result(struct svc *s)
{
    struct sk_outbox_stats st;
    if (!s->ledger || sk_ledger_outbox_stats(s->ledger, &st) < 0) {
        return NULL;
    }
    struct sk_mqtt_outbox_stats ob;
    mqtt_outbox_get_stats(s->outbox, &ob);
    cJSON *r = cJSON_CreateObject();
    if (!r) {
        return NULL;
    }
    cJSON_AddStringToObject(r, "ledger_id", s->ledger_id);
    cJSON_AddNumberToObject(r, "last_seq", (double)st.last_seq);
    cJSON_AddNumberToObject(r, "pending", (double)st.pending);
    cJSON_AddNumberToObject(r, "delivered_kept", (double)st.delivered);
    cJSON_AddNumberToObject(r, "first_pending_seq", (double)st.first_pending_seq);
    add_outbox_end(r, &st);
    cJSON_AddNumberToObject(r, "inflight", (double)ob.inflight);
    cJSON_AddNumberToObject(r, "sent_live", (double)ob.live_sent);
    cJSON_AddNumberToObject(r, "sent_backlog", (double)ob.backlog_sent);
    cJSON_AddNumberToObject(r, "acked", (double)ob.delivered);
    cJSON_AddNumberToObject(r, "refused", (double)ob.refused);
    cJSON_AddNumberToObject(r, "rescans", (double)ob.rescans);
    return r;
}

/* ---- replies -------------------------------------------------------------------------------- */

static void
reply_target(struct svc *s, const struct sk_obs *obs, const char *name, struct reply_to *to)
{
    const struct sk_obs_command *c = &obs->u.command;
    memset(to, 0, sizeof(*to));
    if (c->response_topic) {
        snprintf(to->topic, sizeof(to->topic), "%s", c->response_topic);
    } else {
        /* cmd/<name>/<identity> is answered on reply/<name>/<identity>: a broker ACL can give
         * each sender its own replies only (docs/security.md). */
        char suffix[SK_TOPIC_MAX];
        if (c->flags & SK_CMD_OBS_FROM_TOPIC) {
            snprintf(suffix, sizeof(suffix), "reply/%s/%s", name, c->identity);
        } else {
            snprintf(suffix, sizeof(suffix), "reply/%s", name);
        }
        sk_mqtt_topic(cfg(s), suffix, to->topic, sizeof(to->topic));
    }
    if (c->correlation && c->correlation_len <= sizeof(to->correlation)) {
        memcpy(to->correlation, c->correlation, c->correlation_len);
        to->correlation_len = c->correlation_len;
    }
}

static void send_reply(struct svc *s,
                       const struct reply_to *to,
                       enum sk_cmd_status status,
                       const struct sk_cmd_error *err,
                       cJSON *result)
{
    struct sk_mqtt_env env;
    env_init(s, &env, SK_SCHEMA_REPLY, now_wall(s));
    char *json = sk_mqtt_reply_json(&env, to->command, to->request_id, status, err, result,
                                    to->repeat_of_us);
    struct sk_mqtt_pub pub = {.qos = 1,
                              .correlation = to->correlation_len ? to->correlation : NULL,
                              .correlation_len = to->correlation_len};
    if (status == SK_CMD_REJECTED) {
        s->command_errors++;
        sk_log(SK_LOG_INFO, "mqtt", NULL, "command %s rejected: %s: %s",
               to->command ? to->command : "(unknown)", sk_cmd_error_name(err->code), err->message);
    }
    publish(s, NULL, to->topic, json, &pub);
}

static void reply_error(struct svc *s,
                        const struct reply_to *to,
                        enum sk_cmd_error_code code,
                        const char *field,
                        const char *message)
{
    struct sk_cmd_error err;
    sk_cmd_fail(&err, code, field, "%s", message);
    send_reply(s, to, SK_CMD_REJECTED, &err, NULL);
}

/* ---- diagnostics ------------------------------------------------------------------------ */

static cJSON *ping_result(struct svc *s)
{
    cJSON *r = cJSON_CreateObject();
    if (!r) {
        return NULL;
    }
    cJSON_AddBoolToObject(r, "pong", true);
    cJSON_AddNumberToObject(r, "uptime_s", (double)(now_wall(s) - s->started_wall_us) / 1e6);
    cJSON_AddStringToObject(r, "version", SK_VERSION);
    cJSON_AddStringToObject(r, "protocol", s->protocol == 5 ? "5" : "3.1.1");
    return r;
}

static cJSON *core_result(struct svc *s)
{
    struct sk_core_stats cs;
    struct sk_queue_stats qs;
    sk_core_get_stats(sk_runtime_core(s->rt), &cs);
    sk_queue_get_stats(sk_runtime_queue(s->rt), &qs);
    cJSON *r = cJSON_CreateObject();
    if (!r) {
        return NULL;
    }
    cJSON *q = cJSON_AddObjectToObject(r, "queue");
    if (q) {
        cJSON_AddNumberToObject(q, "depth", (double)qs.depth);
        cJSON_AddNumberToObject(q, "capacity", (double)qs.capacity);
        cJSON_AddNumberToObject(q, "max_depth", (double)qs.max_depth);
        cJSON_AddNumberToObject(q, "dropped", (double)qs.dropped);
    }
    uint64_t total = 0;
    for (int t = 0; t < SK_OBS_TYPE_COUNT; t++) {
        total += cs.handled[t];
    }
    cJSON_AddNumberToObject(r, "observations", (double)total);
    cJSON *rd = cJSON_AddObjectToObject(r, "readers");
    if (rd) {
        cJSON_AddNumberToObject(rd, "up", cs.readers_up);
        cJSON_AddNumberToObject(rd, "degraded", cs.readers_degraded);
        cJSON_AddNumberToObject(rd, "down", cs.readers_down);
    }
    cJSON *cm = cJSON_AddObjectToObject(r, "cameras");
    if (cm) {
        cJSON_AddNumberToObject(cm, "up", cs.cameras_up);
        cJSON_AddNumberToObject(cm, "degraded", cs.cameras_degraded);
        cJSON_AddNumberToObject(cm, "down", cs.cameras_down);
    }
    struct sk_fusion *f = sk_core_fusion(sk_runtime_core(s->rt));
    if (f) {
        cJSON_AddNumberToObject(r, "sessions_open", (double)sk_fusion_session_count(f));
    }
    return r;
}

static cJSON *health_result(struct svc *s)
{
    cJSON *r = cJSON_CreateObject();
    cJSON *arr = r ? cJSON_AddArrayToObject(r, "sources") : NULL;
    for (size_t i = 0; arr && i < s->n_sources; i++) {
        const struct source *src = &s->sources[i];
        cJSON *e = cJSON_CreateObject();
        if (!e) {
            break;
        }
        cJSON_AddStringToObject(e, "kind", src->camera ? "camera" : "reader");
        cJSON_AddStringToObject(e, "name", src->name);
        cJSON_AddStringToObject(
                e, "state", sk_health_state_name(src->reported ? src->health.u.health.state : 0));
        cJSON_AddStringToObject(
                e, "reason",
                sk_health_reason_name(src->reported ? src->health.u.health.reason : 0));
        cJSON_AddItemToArray(arr, e);
    }
    return r;
}

static void start_echo(struct svc *s, const struct reply_to *to)
{
    struct pending_echo *e = NULL;
    for (size_t i = 0; i < DIAG_PENDING_MAX && !e; i++) {
        if (!s->echoes[i].used) {
            e = &s->echoes[i];
        }
    }
    if (!e) {
        reply_error(s, to, SK_CMD_ERR_BUSY, NULL,
                    "too many mqtt round trips in progress; try again in a few seconds");
        return;
    }
    char uuid[37];
    sk_mqtt_uuid(uuid);
    snprintf(e->token, sizeof(e->token), "%s", uuid);
    char suffix[64];
    snprintf(suffix, sizeof(suffix), "diag/echo/%s", e->token);
    e->to = *to;
    e->sent_mono_us = now_mono(s);
    struct sk_mqtt_pub pub = {.qos = 1};
    struct sk_mqtt_env env;
    env_init(s, &env, SK_SCHEMA_ECHO, now_wall(s));
    cJSON *o = sk_mqtt_env_new(&env);
    if (o) {
        cJSON_AddStringToObject(o, "token", e->token);
    }
    if (publish(s, suffix, NULL, sk_mqtt_print_free(o), &pub) < 0) {
        reply_error(s, to, SK_CMD_ERR_FAILED, NULL, "could not publish the round-trip message");
        return;
    }
    e->used = true;
}

static void on_echo(struct svc *s, const struct sk_obs *obs)
{
    for (size_t i = 0; i < DIAG_PENDING_MAX; i++) {
        struct pending_echo *e = &s->echoes[i];
        if (e->used && strcmp(e->token, obs->u.mqtt.detail) == 0) {
            e->used = false;
            cJSON *r = cJSON_CreateObject();
            if (r) {
                cJSON_AddNumberToObject(r, "rtt_ms",
                                        (double)(obs->mono_us - e->sent_mono_us) / 1000.0);
                cJSON_AddStringToObject(r, "protocol", s->protocol == 5 ? "5" : "3.1.1");
                cJSON_AddBoolToObject(r, "tls", s->tls);
            }
            send_reply(s, &e->to, SK_CMD_DONE, NULL, r);
            return;
        }
    }
}

static void expire_echoes(struct svc *s)
{
    int64_t now = now_mono(s);
    for (size_t i = 0; i < DIAG_PENDING_MAX; i++) {
        struct pending_echo *e = &s->echoes[i];
        if (e->used && (now - e->sent_mono_us > DIAG_TIMEOUT_US || !s->up)) {
            e->used = false;
            reply_error(s, &e->to, SK_CMD_ERR_TIMEOUT, NULL,
                        "the round-trip message did not come back within 5 s");
        }
    }
}

static void run_diag(struct svc *s, const struct sk_cmd *cmd, const struct reply_to *to)
{
    switch (cmd->u.diag.test) {
    case SK_CMD_DIAG_PING:
        send_reply(s, to, SK_CMD_DONE, NULL, ping_result(s));
        break;
    case SK_CMD_DIAG_MQTT:
        start_echo(s, to);
        break;
    case SK_CMD_DIAG_CORE:
        send_reply(s, to, SK_CMD_DONE, NULL, core_result(s));
        break;
    case SK_CMD_DIAG_HEALTH:
        send_reply(s, to, SK_CMD_DONE, NULL, health_result(s));
        break;
    case SK_CMD_DIAG_LEDGER: {
        cJSON *r = ledger_result(s);
        if (r) {
            send_reply(s, to, SK_CMD_DONE, NULL, r);
        } else {
            reply_error(s, to, SK_CMD_ERR_FAILED, "test",
                        s->ledger ? "the ledger could not be read" : "this runtime has no ledger");
        }
        break;
    }
    }
}

/* ---- commands ------------------------------------------------------------------------------- */

static void do_reload(struct svc *s, const struct reply_to *to)
{
    struct sk_diag report;
    sk_diag_init(&report);
    int r = sk_runtime_reload(s->rt, &report);
    if (r == 0) {
        cJSON *res = cJSON_CreateObject();
        if (res) {
            cJSON_AddStringToObject(res, "config_hash", cfg(s)->hash);
        }
        send_reply(s, to, SK_CMD_DONE, NULL, res);
    } else {
        char msg[192];
        snprintf(msg, sizeof(msg), "%s; the running configuration is kept: %s",
                 r == SK_ECONFIG ? "the configuration file is invalid" : "a change needs a restart",
                 report.n ? report.lines[0] : "");
        struct sk_cmd_error err;
        sk_cmd_fail(&err, SK_CMD_ERR_FAILED, NULL, "%s", msg);
        /* Every problem (at most 20) goes into error.details. */
        cJSON *lines = cJSON_CreateArray();
        for (size_t i = 0; lines && i < report.n && i < 20; i++) {
            cJSON_AddItemToArray(lines, cJSON_CreateString(report.lines[i]));
        }
        send_reply(s, to, SK_CMD_REJECTED, &err, lines);
    }
    sk_diag_free(&report);
}

/*
 * Who may change state. A broker does not authenticate anything inside a message (neither the
 * payload's "identity" nor MQTT 5 user properties: the sender writes both), but its ACL does
 * decide who may publish to which topic. So the sender's identity is taken from the topic,
 * cmd/<name>/<identity>, and the shipped ACL (docs/examples/broker/acl) lets each user publish
 * commands only under its own name. With mqtt.cloud_identity set, state-changing commands are
 * accepted from that identity on that topic only; the payload's identity, when given, must
 * agree with the topic's. Returns NULL when allowed, else the reason.
 */
static const char *authorise(const struct sk_config *c,
                             enum sk_cmd_kind kind,
                             const struct sk_obs_command *oc,
                             const struct sk_cmd *cmd)
{
    bool from_topic = oc->flags & SK_CMD_OBS_FROM_TOPIC;
    if (from_topic && cmd->identity[0] && strcmp(cmd->identity, oc->identity) != 0) {
        return "the payload's identity differs from the topic's (cmd/<name>/<identity>)";
    }
    const char *want = c->mqtt.cloud_identity;
    if (!sk_cmd_changes_state(kind) || !want[0]) {
        return NULL;
    }
    if (!from_topic) {
        return "commands that change state are accepted only on cmd/<name>/<identity>, where "
               "the broker's ACL vouches for the sender; an identity in the payload is not";
    }
    if (strcmp(oc->identity, want) != 0) {
        return "this sender may not change state: it is not mqtt.cloud_identity";
    }
    return NULL;
}

/* Returns 1 when the link answered the command, 0 to pass it to the core (which answers
 * through on_command_result). */
static int on_command(struct svc *s, const struct sk_obs *obs)
{
    const struct sk_obs_command *c = &obs->u.command;
    s->commands++;
    bool bad_name = c->flags & SK_CMD_OBS_BAD_NAME;
    enum sk_cmd_kind kind = bad_name ? SK_CMD_NONE : sk_cmd_kind_from_name(c->name);
    struct reply_to to;
    reply_target(s, obs, kind ? c->name : "unknown", &to);
    to.command = sk_cmd_name(kind);
    if (bad_name || kind == SK_CMD_NONE) {
        char msg[192];
        snprintf(msg, sizeof(msg), "unknown command \"%.40s\"; known: %s", c->name, sk_cmd_names());
        reply_error(s, &to, SK_CMD_ERR_UNKNOWN, NULL, msg);
        return 1;
    }
    if (c->flags & SK_CMD_OBS_RATE_LIMITED) {
        return 1; /* the link answered busy */
    }
    if (c->flags & SK_CMD_OBS_BAD_IDENTITY) {
        /* The command is known: the sender's name in the topic is what is wrong. Its reply
         * goes to reply/<name>: there is no usable identity for reply/<name>/<identity>. */
        char msg[192];
        snprintf(msg, sizeof(msg),
                 "the sender's name in the topic cmd/%.31s/<identity> is %s; it must be 1..%d "
                 "characters of one topic level",
                 c->name, c->identity[0] ? "too long" : "empty", SK_NAME_MAX - 1);
        reply_error(s, &to, SK_CMD_ERR_INVALID, "identity", msg);
        return 1;
    }
    if (c->flags & SK_CMD_OBS_BAD_RESPONSE) {
        reply_error(s, &to, SK_CMD_ERR_INVALID, "response_topic",
                    "the MQTT 5 response topic or correlation data is too long, not a valid "
                    "topic, or inside this device's tree other than reply/; the command was not "
                    "run");
        return 1;
    }
    if (c->flags & SK_CMD_OBS_TOO_LARGE) {
        char msg[160];
        snprintf(msg, sizeof(msg), "payload is %zu bytes; mqtt.command_max_bytes allows %d",
                 c->payload_len, cfg(s)->mqtt.command_max_bytes);
        reply_error(s, &to, SK_CMD_ERR_TOO_LARGE, NULL, msg);
        return 1;
    }
    struct sk_cmd cmd;
    struct sk_cmd_error err;
    if (sk_cmd_parse(c->name, c->payload, c->payload ? c->payload_len : 0,
                     (size_t)cfg(s)->mqtt.command_max_bytes, cfg(s), &cmd, &err) < 0) {
        snprintf(to.request_id, sizeof(to.request_id), "%s", cmd.request_id);
        send_reply(s, &to, SK_CMD_REJECTED, &err, NULL);
        sk_cmd_clear(&cmd);
        return 1;
    }
    snprintf(to.request_id, sizeof(to.request_id), "%s", cmd.request_id);
    const char *problem = authorise(cfg(s), kind, c, &cmd);
    if (problem) {
        reply_error(s, &to, SK_CMD_ERR_FORBIDDEN, "identity", problem);
        sk_log(SK_LOG_NOTICE, "mqtt", NULL, "refused command %s from %s: %s", c->name,
               c->flags & SK_CMD_OBS_FROM_TOPIC ? c->identity : "an unnamed sender", problem);
        sk_cmd_clear(&cmd);
        return 1;
    }
    if (cfg(s)->role == SK_ROLE_SATELLITE && sk_cmd_changes_state(kind) &&
        kind != SK_CMD_CONFIG_RELOAD) {
        char msg[160];
        snprintf(msg, sizeof(msg),
                 "this board is a satellite: its store's state is kept by hub %s; send the "
                 "command there",
                 cfg(s)->satellite.hub);
        reply_error(s, &to, SK_CMD_ERR_UNAVAILABLE, NULL, msg);
        sk_cmd_clear(&cmd);
        return 1;
    }
    sk_log(SK_LOG_INFO, "mqtt", NULL, "command %s%s%s", c->name,
           cmd.request_id[0] ? " request " : "", cmd.request_id);
    switch (kind) {
    case SK_CMD_PING:
        send_reply(s, &to, SK_CMD_DONE, NULL, ping_result(s));
        break;
    case SK_CMD_DIAG:
        run_diag(s, &cmd, &to);
        break;
    case SK_CMD_REBIRTH:
        publish_status(s, "online", NULL);
        publish_all_health(s);
        send_reply(s, &to, SK_CMD_DONE, NULL, NULL);
        break;
    case SK_CMD_CONFIG_RELOAD:
        do_reload(s, &to);
        break;
    default:
        /* State changes go through the core like every observation, inside its ledger
         * transaction; the core hands the outcome to on_command_result. */
        sk_cmd_clear(&cmd);
        return 0;
    }
    sk_cmd_clear(&cmd);
    return 1;
}

/* The outcome of a command the core applied, once the transaction that applied it (and
 * recorded its reply by request_id) committed: see sk_core_replies_flush(). */
static void on_command_result(void *ctx,
                              const struct sk_obs *obs,
                              const struct sk_cmd *cmd,
                              const struct sk_cmd_result *res)
{
    struct svc *s = ctx;
    struct reply_to to;
    reply_target(s, obs, obs->u.command.name, &to);
    to.command = sk_cmd_name(cmd->kind);
    snprintf(to.request_id, sizeof(to.request_id), "%s", cmd->request_id);
    to.repeat_of_us = res->repeat ? (res->first_wall_us > 0 ? res->first_wall_us : 1) : 0;
    if (res->status == SK_CMD_REJECTED) {
        send_reply(s, &to, SK_CMD_REJECTED, &res->error, NULL);
        return;
    }
    cJSON *r = cJSON_CreateObject();
    if (r) {
        cJSON_AddStringToObject(r, "detail", res->detail);
        if (res->count >= 0) {
            cJSON_AddNumberToObject(r, "count", (double)res->count);
        }
        if (res->expires_wall_us) {
            sk_mqtt_add_time(r, "expires", res->expires_wall_us);
        }
        if (res->missing >= 0) {
            cJSON_AddNumberToObject(r, "missing", (double)res->missing);
        }
    }
    /* The rows are pending again in the ledger: the window goes back for them (a repeat
     * applied nothing now). */
    if (cmd->kind == SK_CMD_OUTBOX_RESEND && !res->repeat && s->outbox) {
        mqtt_outbox_rewind(s->outbox, cmd->u.resend.from_seq);
        s->hwm_dirty = true;
        drain(s);
    }
    send_reply(s, &to, res->status, NULL, r);
}

/* ---- link events ----------------------------------------------------------------------------- */

static void on_link(struct svc *s, const struct sk_obs *obs)
{
    const struct sk_obs_mqtt *m = &obs->u.mqtt;
    const struct sk_config *c = cfg(s);
    switch (m->event) {
    case SK_MQTT_CONNECTED:
        s->up = true;
        s->gen = m->generation;
        s->protocol = m->protocol;
        s->tls = m->flags & SK_MQTT_F_TLS;
        s->connects++;
        s->connected_wall_us = obs->wall_us;
        sk_complain_release(&s->conn_complaint, SK_LOG_NOTICE, "mqtt", NULL,
                            "broker reachable again");
        sk_log(SK_LOG_NOTICE, "mqtt", NULL, "connected to %s:%d (MQTT %s%s%s%s)", c->mqtt.host,
               c->mqtt.port, m->protocol == 5 ? "5" : "3.1.1", s->tls ? ", " : "", m->detail,
               m->flags & SK_MQTT_F_SESSION_PRESENT ? ", session resumed" : "");
        if ((m->flags & SK_MQTT_F_NO_PACKET_LIMIT) && !s->warned_packet_limit) {
            s->warned_packet_limit = true;
            sk_log(SK_LOG_WARNING, "mqtt", NULL,
                   "the broker announces no maximum packet size: any client allowed to publish "
                   "under cmd/ can make this device receive messages of up to 256 MB; set "
                   "max_packet_size in the broker (131072 in docs/examples/broker/mosquitto.conf)");
        }
        publish_status(s, "online", NULL);
        publish_all_health(s);
        mqtt_sat_connected(s->sat, s->gen);
        if (s->outbox) {
            mqtt_outbox_connected(s->outbox, s->gen);
            publish_hwm(s, true);
            drain(s);
        }
        break;
    case SK_MQTT_DISCONNECTED:
        if (m->generation != s->gen) {
            break;
        }
        s->up = false;
        s->disconnects++;
        mqtt_sat_disconnected(s->sat);
        if (s->outbox) {
            mqtt_outbox_disconnected(s->outbox);
        }
        expire_echoes(s);
        if (m->retry_ms >= 0) {
            sk_complain(&s->conn_complaint, obs->mono_us, SK_LOG_WARNING, "mqtt", NULL,
                        "%s; reconnecting in %.1f s", m->detail, m->retry_ms / 1000.0);
        }
        break;
    case SK_MQTT_CONNECT_FAILED:
        /* Every attempt at debug level (tests and technicians follow the back-off); the
         * rate-limited line below is what an operator sees. */
        sk_log(SK_LOG_DEBUG, "mqtt", NULL, "attempt %u failed: %s; next in %d ms", m->generation,
               m->detail, m->retry_ms);
        if (m->retry_ms >= 0) {
            sk_complain(&s->conn_complaint, obs->mono_us,
                        m->flags & (SK_MQTT_F_AUTH | SK_MQTT_F_TLS_FAILED) ? SK_LOG_ERR
                                                                           : SK_LOG_WARNING,
                        "mqtt", NULL, "cannot connect to %s:%d: %s; retrying in %.1f s",
                        c->mqtt.host, c->mqtt.port, m->detail, m->retry_ms / 1000.0);
        } else {
            sk_log(SK_LOG_ERR, "mqtt", NULL, "cannot connect to %s:%d: %s", c->mqtt.host,
                   c->mqtt.port, m->detail);
        }
        break;
    case SK_MQTT_SUBACK:
        if (m->reason_code >= 0x80) {
            sk_log(SK_LOG_ERR, "mqtt", NULL,
                   "the broker refused a subscription (reason 0x%02x): commands will not arrive; "
                   "check the broker's ACL for %s",
                   (unsigned)m->reason_code, c->device_id);
        }
        break;
    case SK_MQTT_ECHO:
        on_echo(s, obs);
        break;
    case SK_MQTT_PUBACK:
        if (s->outbox && mqtt_outbox_puback(s->outbox, m->generation, m->mid, m->reason_code)) {
            s->hwm_dirty = true;
            drain(s);
        } else if (m->reason_code >= 0x80 && m->generation == s->gen) {
            sk_log(SK_LOG_WARNING, "mqtt", NULL, "broker refused a message (reason 0x%02x: %s)",
                   (unsigned)m->reason_code, sk_mqtt_reason_text(5, m->reason_code));
        }
        break;
    default:
        break;
    }
}

/* ---- stats and housekeeping ------------------------------------------------------------------ */

static void publish_stats(struct svc *s)
{
    struct sk_mqtt_env env;
    env_init(s, &env, SK_SCHEMA_STATS, now_wall(s));
    cJSON *o = sk_mqtt_env_new(&env);
    if (!o) {
        return;
    }
    cJSON_AddNumberToObject(o, "uptime_s", (double)(now_wall(s) - s->started_wall_us) / 1e6);
    cJSON *l = cJSON_AddObjectToObject(o, "link");
    if (l) {
        struct sk_mqtt_link_info info;
        sk_mqtt_link_get_info(s->link, &info);
        cJSON_AddNumberToObject(l, "connects", s->connects);
        cJSON_AddNumberToObject(l, "attempts", info.attempts);
        cJSON_AddNumberToObject(l, "disconnects", (double)s->disconnects);
        cJSON_AddNumberToObject(l, "published", (double)s->published);
        cJSON_AddNumberToObject(l, "publish_errors", (double)s->publish_errors);
        cJSON_AddNumberToObject(l, "commands", (double)s->commands);
        cJSON_AddNumberToObject(l, "command_errors", (double)s->command_errors);
    }
    cJSON *core = core_result(s);
    if (core) {
        cJSON_AddItemToObject(o, "core", core);
    }
    cJSON *ob = ledger_result(s);
    if (ob) {
        cJSON_AddItemToObject(o, "outbox", ob);
    }
    struct sk_mqtt_pub pub = {.qos = 1};
    publish(s, "stats", NULL, sk_mqtt_print_free(o), &pub);
}

static void on_housekeep(struct sk_loop *loop, uint64_t expirations, void *ctx)
{
    (void)loop;
    (void)expirations;
    struct svc *s = ctx;
    s->rounds++;
    if (s->outbox) {
        mqtt_outbox_tick(s->outbox);
        /* Rows other processes commit (`storekeeper ledger`) have no commit listener here. */
        drain(s);
        if (s->up && s->rounds % AUDIT_EVERY == 0 && sk_ledger_depth(s->ledger) == 0) {
            int64_t first = 0;
            if (sk_ledger_outbox_pending(s->ledger, 0, 1, first_pending_cb, &first) >= 0) {
                mqtt_outbox_audit(s->outbox, first);
                drain(s);
            }
        }
        publish_hwm(s, false);
    }
    mqtt_sat_tick(s->sat);
    if (s->rounds % (1000 / HOUSEKEEP_MS) != 0) {
        return;
    }
    expire_echoes(s);
    int interval = cfg(s)->mqtt.stats_interval_s;
    int64_t now = now_mono(s);
    if (s->up && interval > 0 && now - s->last_stats_mono_us >= (int64_t)interval * 1000000) {
        s->last_stats_mono_us = now;
        publish_stats(s);
    }
}

/* ---- the service ---------------------------------------------------------------------------- */

static int add_sources(struct svc *s, const struct sk_config *c)
{
    s->sources = calloc(c->n_readers + c->n_cameras + 1, sizeof(*s->sources));
    if (!s->sources) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < c->n_readers; i++) {
        snprintf(s->sources[s->n_sources++].name, SK_NAME_MAX, "%s", c->readers[i].name);
    }
    for (size_t i = 0; i < c->n_cameras; i++) {
        struct source *src = &s->sources[s->n_sources++];
        snprintf(src->name, SK_NAME_MAX, "%s", c->cameras[i].name);
        src->camera = true;
    }
    return 0;
}

static void svc_free(struct svc *s)
{
    if (!s) {
        return;
    }
    sk_core_set_command_listener(sk_runtime_core(s->rt), NULL, NULL);
    if (s->housekeep) {
        sk_loop_timer_del(sk_runtime_loop(s->rt), s->housekeep);
    }
    if (s->kick) {
        sk_loop_timer_del(sk_runtime_loop(s->rt), s->kick);
    }
    if (s->ledger && s->outbox) {
        sk_ledger_remove_commit_listener(s->ledger, on_commit, s);
    }
    sk_mqtt_link_free(s->link);
    mqtt_sat_free(s->sat);
    mqtt_outbox_free(s->outbox);
    free(s->sources);
    free(s);
}

static int svc_start(struct sk_runtime *rt, void **ret_state)
{
    const struct sk_config *c = sk_runtime_config(rt);
    if (!c->mqtt.enabled) {
        sk_log(SK_LOG_NOTICE, "mqtt", NULL,
               "disabled (mqtt.enabled = false): events wait in the outbox");
        *ret_state = NULL;
        return 0;
    }
    if (!c->mqtt.cloud_identity[0]) {
        sk_log(SK_LOG_NOTICE, "mqtt", NULL,
               "mqtt.cloud_identity is not set: any client the broker lets publish under cmd/ "
               "may change state (docs/security.md)");
    }
    struct svc *s = calloc(1, sizeof(*s));
    if (!s) {
        return -ENOMEM;
    }
    s->rt = rt;
    struct sk_core_stats cs;
    sk_core_get_stats(sk_runtime_core(rt), &cs);
    const struct sk_clock *clk = sk_runtime_clock(rt);
    s->started_wall_us = sk_clock_wall_us(clk) - (sk_clock_mono_us(clk) - cs.started_mono_us);
    s->last_stats_mono_us = sk_clock_mono_us(clk);
    int r = add_sources(s, c);
    s->ledger = sk_runtime_ledger(rt);
    struct sk_outbox_stats ost;
    memset(&ost, 0, sizeof(ost));
    if (r == 0 && s->ledger) {
        struct sk_ledger_info li;
        if ((r = sk_ledger_get_info(s->ledger, &li)) == 0) {
            snprintf(s->ledger_id, sizeof(s->ledger_id), "%s", li.ledger_id);
            r = sk_ledger_outbox_stats(s->ledger, &ost);
        }
    }
    static const char *const subs[] = {"cmd/+", "cmd/+/+", "diag/echo/+", NULL};
    char board_topics[2][SK_TOPIC_MAX];
    size_t nb = mqtt_sat_subscriptions(c, board_topics, 2);
    const char *board_subs[3] = {nb > 0 ? board_topics[0] : NULL, nb > 1 ? board_topics[1] : NULL,
                                 NULL};
    struct sk_mqtt_link_opts lo = {.cfg = c,
                                   .queue = sk_runtime_queue(rt),
                                   .started_wall_us = s->started_wall_us,
                                   .ledger_id = s->ledger_id,
                                   .subscriptions = subs,
                                   .store_subscriptions = board_subs};
    if (r == 0) {
        r = sk_mqtt_link_new(&lo, &s->link);
    }
    if (r == 0 && s->ledger) {
        char prefix[SK_TOPIC_MAX];
        sk_mqtt_topic(c, "", prefix, sizeof(prefix));
        struct sk_mqtt_outbox_opts oo = {.ledger = s->ledger,
                                         .link = s->link,
                                         .clock = sk_runtime_clock(rt),
                                         .prefix = prefix,
                                         .inflight_max = c->mqtt.inflight_max,
                                         .replay_rate_max = c->mqtt.replay_rate_max,
                                         .inflight_timeout_us =
                                                 (int64_t)c->mqtt.keepalive_s * 3 * 1000000,
                                         .ordered = c->role == SK_ROLE_SATELLITE};
        r = mqtt_outbox_new(&oo, &s->outbox);
        if (r == 0) {
            mqtt_outbox_note_head(s->outbox, ost.last_seq);
            sk_mqtt_link_set_seq(s->link, ost.last_seq);
            r = sk_ledger_add_commit_listener(s->ledger, on_commit, s);
            if (r < 0) {
                mqtt_outbox_free(s->outbox);
                s->outbox = NULL;
            }
        }
    }
    if (r == 0) {
        struct mqtt_sat_opts so = {.rt = rt,
                                   .link = s->link,
                                   .ledger = s->ledger,
                                   .outbox = s->outbox,
                                   .ledger_id = s->ledger_id};
        r = mqtt_sat_new(&so, &s->sat);
    }
    if (r == 0) {
        r = sk_loop_timer_add(sk_runtime_loop(rt), HOUSEKEEP_MS, HOUSEKEEP_MS, on_housekeep, s,
                              &s->housekeep);
    }
    if (r == 0) {
        r = sk_loop_timer_add(sk_runtime_loop(rt), 1, 0, on_kick, s, &s->kick);
    }
    if (r == 0) {
        r = sk_loop_timer_set(s->kick, 0, 0); /* armed by commits only */
    }
    if (r == 0) {
        sk_core_set_command_listener(sk_runtime_core(rt), on_command_result, s);
        r = sk_mqtt_link_start(s->link);
    }
    if (r < 0) {
        svc_free(s);
        return r;
    }
    char cid[128];
    sk_mqtt_client_id(c, NULL, cid, sizeof(cid));
    sk_log(SK_LOG_INFO, "mqtt", NULL, "connecting to %s:%d as %s%s; outbox: %lld pending",
           c->mqtt.host, c->mqtt.port, cid, c->mqtt.tls ? " with TLS" : "", (long long)ost.pending);
    *ret_state = s;
    return 0;
}

static void svc_stop(void *state)
{
    struct svc *s = state;
    if (!s) {
        return;
    }
    if (s->up) {
        publish_hwm(s, true);
        publish_status(s, "stopped", "clean shutdown");
    }
    sk_mqtt_link_stop(s->link, 2000);
    svc_free(s);
}

static int svc_reload(void *state, const struct sk_config *next)
{
    struct svc *s = state;
    if (s) {
        sk_mqtt_link_set_command_max(s->link, next->mqtt.command_max_bytes);
        sk_mqtt_link_set_command_rate(s->link, next->mqtt.command_rate_max);
        if (s->outbox) {
            mqtt_outbox_set_rate(s->outbox, next->mqtt.replay_rate_max);
        }
    }
    return 0;
}

static int svc_handle(void *state, const struct sk_obs *obs)
{
    struct svc *s = state;
    if (!s) {
        /* Disabled: commands and link events cannot arrive; health goes to the core. */
        return 0;
    }
    switch (obs->type) {
    case SK_OBS_MQTT_LINK:
        on_link(s, obs);
        return 1;
    case SK_OBS_MQTT_COMMAND:
        return on_command(s, obs);
    case SK_OBS_READER_HEALTH:
    case SK_OBS_CAMERA_HEALTH:
        on_health(s, obs);
        return 0;
    default:
        return 0;
    }
}

static int svc_rewrite(void *state, struct sk_obs *obs)
{
    struct svc *s = state;
    return s ? mqtt_sat_rewrite(s->sat, obs) : 0;
}

cJSON *sk_mqtt_boards_status(void *mqtt_state)
{
    struct svc *s = mqtt_state;
    return s ? mqtt_sat_status(s->sat) : NULL;
}

const struct sk_service sk_mqtt_service = {
        .name = "mqtt",
        .start = svc_start,
        .stop = svc_stop,
        .reload = svc_reload,
        .handle = svc_handle,
        .rewrite = svc_rewrite,
};
