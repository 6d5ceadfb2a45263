/* SPDX-License-Identifier: MIT */
/* The store's boards: a satellite forwards its observations to the hub; the hub takes them once. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt_internal.h"
#include "storekeeper/clock.h"
#include "storekeeper/config.h"
#include "storekeeper/core.h"
#include "storekeeper/error.h"
#include "storekeeper/ledger.h"
#include "storekeeper/log.h"
#include "storekeeper/mqtt.h"
#include "storekeeper/record.h"
#include "storekeeper/runtime.h"

/*
 * DESIGN
 * A satellite runs buses and cameras only. Its core writes every observation they make as a row
 * of its own ledger's outbox (topic sat/obs; core.c, forward()), so the outbox is the
 * satellite's disk-backed buffer: it survives power cuts, and the outbox delivery (QoS 1, marks
 * on PUBACK, backlog after an outage) carries it to the store's broker.
 *
 * The hub subscribes to every satellite's sat/obs. An observation is decoded on the core thread
 * (the runtime's rewrite hook) into the observation it carries, with its origin (device, the
 * satellite's ledger, the seq there): the core applies each once and records the seq in the same
 * transaction (sk_core_handle). The hub publishes, retained, the highest seq it recorded per
 * satellite (sat/ack/<satellite>), and only with no transaction open, so it never announces what
 * could still roll back. A satellite whose rows the broker acknowledged but whose hub has not
 * recorded them satellite.ack_timeout_s later (the hub restarted between the broker and its
 * commit, or the broker lost them) makes them pending again: they are sent once more, and the
 * hub drops what it had.
 *
 * Time: an observation carries the satellite's clocks. The hub sends a ping every
 * hub.ping_interval_ms; the satellite answers with when it got it and when it answered, so the
 * hub has four timestamps, as NTP does: offset = ((t1 - t0) + (t2 - t3)) / 2, round trip
 * (t3 - t0) - (t2 - t1). The estimate is the sample with the shortest round trip of the last
 * eight. An observation's wall time, less the offset, becomes the hub's wall time of it, and the
 * hub's monotonic time follows from its own clocks' difference. A satellite off by more than
 * hub.clock_max_ms (chrony not running) is refused: its observations stay on it until its clock
 * is back; diag all says so.
 */

#define PEERS_MAX    32
#define SAMPLES      8
#define ACK_EVERY_US 500000
#define STATS_EVERY  1000000
#define RESEND_MAX_X 32
#define SCHEMA_OBS   "storekeeper/v1/sat/obs"
#define SCHEMA_PING  "storekeeper/v1/sat/ping"
#define SCHEMA_PONG  "storekeeper/v1/sat/pong"
#define SCHEMA_ACK   "storekeeper/v1/sat/ack"

struct sample {
    int64_t offset_us, rtt_us;
};

struct peer {
    char device[SK_NAME_MAX];
    struct sample samples[SAMPLES];
    size_t n_samples, next_sample;
    int64_t offset_us, rtt_us; /* the estimate */
    bool measured;
    int64_t heard_mono_us;                            /* last message from it */
    int64_t pending, oldest_pending_wall_us, dropped; /* its buffer, from its pong */
    char ledger_id[40];                               /* its stream */
    int64_t seen_seq;                                 /* highest seq taken off the queue */
    int64_t acked_seq; /* number of the last observation acknowledged (-1: none yet) */
    int64_t lag_us;    /* how old its last observation was when it arrived */
    bool gap;          /* an observation came after one not recorded: ask at once */
    uint64_t received, refused, malformed;
    struct sk_complain complaint;
};

struct mqtt_sat {
    struct sk_runtime *rt;
    struct sk_mqtt_link *link;
    struct sk_ledger *ledger;
    struct sk_mqtt_outbox *outbox;
    char ledger_id[SK_LEDGER_ID_LEN + 1];
    bool up;
    uint32_t gen;
    int64_t last_ping_mono_us, last_ack_mono_us;
    /* hub */
    struct peer peers[PEERS_MAX];
    size_t n_peers;
    /* satellite */
    int64_t hub_seq; /* what the hub says it recorded, in our ledger; -1 none heard */
    int64_t hub_heard_mono_us;
    int64_t behind_since_mono_us; /* the hub lags what the broker took since */
    int64_t behind_seq;           /* hub_seq when that began */
    bool hub_asks;                /* the hub saw a gap: send again now, not after the timeout */
    int64_t resent_from;          /* first seq of the last resend (0: none) */
    int backoff;
    int64_t pending, first_pending, last_seq; /* our buffer, refreshed every second */
    int64_t stats_mono_us;
    uint64_t resends;
    struct sk_complain complaint;
};

static const struct sk_config *cfg(const struct mqtt_sat *s)
{
    return sk_runtime_config(s->rt);
}

static bool is_hub(const struct mqtt_sat *s)
{
    return cfg(s)->role == SK_ROLE_HUB;
}

static int64_t now_mono(const struct mqtt_sat *s)
{
    return sk_clock_mono_us(sk_runtime_clock(s->rt));
}

static int64_t now_wall(const struct mqtt_sat *s)
{
    return sk_clock_wall_us(sk_runtime_clock(s->rt));
}

static void publish_json(struct mqtt_sat *s, const char *topic, cJSON *o, bool retain)
{
    char *text = sk_mqtt_print_free(o);
    if (!text || !s->up) {
        free(text);
        return;
    }
    struct sk_mqtt_pub pub = {.qos = 1, .retain = retain};
    sk_mqtt_link_publish(s->link, s->gen, topic, text, strlen(text), &pub, NULL);
    free(text);
}

static cJSON *envelope(struct mqtt_sat *s, const char *schema)
{
    struct sk_mqtt_env env = {schema,
                              cfg(s)->store_id,
                              cfg(s)->device_id,
                              s->ledger_id,
                              s->outbox ? mqtt_outbox_head(s->outbox) : 0,
                              now_wall(s),
                              now_wall(s)};
    return sk_mqtt_env_new(&env);
}

/* ---- setting up ---------------------------------------------------------------------------- */

int mqtt_sat_new(const struct mqtt_sat_opts *o, struct mqtt_sat **ret)
{
    const struct sk_config *c = sk_runtime_config(o->rt);
    char names[PEERS_MAX][SK_NAME_MAX];
    size_t n = sk_config_satellites(c, names, PEERS_MAX);
    *ret = NULL;
    if (c->role == SK_ROLE_HUB && n == 0) {
        return 0; /* a single board */
    }
    if (!o->ledger || !o->outbox) {
        return -EINVAL;
    }
    if (n > PEERS_MAX) {
        sk_log(SK_LOG_WARNING, "satellite", NULL, "%zu satellites; this hub follows the first %d",
               n, PEERS_MAX);
        n = PEERS_MAX;
    }
    struct mqtt_sat *s = calloc(1, sizeof(*s));
    if (!s) {
        return -ENOMEM;
    }
    s->rt = o->rt;
    s->link = o->link;
    s->ledger = o->ledger;
    s->outbox = o->outbox;
    snprintf(s->ledger_id, sizeof(s->ledger_id), "%s", o->ledger_id);
    for (size_t i = 0; i < n; i++) {
        struct peer *p = &s->peers[s->n_peers++];
        snprintf(p->device, sizeof(p->device), "%s", names[i]);
        p->complaint = (struct sk_complain)SK_COMPLAIN_INIT;
    }
    s->hub_seq = -1;
    s->backoff = 1;
    s->complaint = (struct sk_complain)SK_COMPLAIN_INIT;
    if (c->role == SK_ROLE_SATELLITE) {
        sk_log(SK_LOG_NOTICE, "satellite", NULL,
               "a satellite of %s: observations go to it through the broker, kept here until it "
               "recorded them (at most %d)",
               c->satellite.hub, c->satellite.buffer_max);
    } else {
        sk_log(SK_LOG_INFO, "satellite", NULL, "hub of %zu satellite(s)", s->n_peers);
    }
    *ret = s;
    return 0;
}

void mqtt_sat_free(struct mqtt_sat *s)
{
    free(s);
}

size_t mqtt_sat_subscriptions(const struct sk_config *c, char (*ret)[SK_TOPIC_MAX], size_t max)
{
    if (max < 2) {
        return 0;
    }
    if (c->role == SK_ROLE_SATELLITE) {
        snprintf(ret[0], SK_TOPIC_MAX, "%s/sat/ping", c->satellite.hub);
        snprintf(ret[1], SK_TOPIC_MAX, "%s/sat/ack/%s", c->satellite.hub, c->device_id);
        return 2;
    }
    char names[1][SK_NAME_MAX];
    if (sk_config_satellites(c, names, 1) == 0) {
        return 0;
    }
    snprintf(ret[0], SK_TOPIC_MAX, "+/sat/obs");
    snprintf(ret[1], SK_TOPIC_MAX, "+/sat/pong");
    return 2;
}

void mqtt_sat_connected(struct mqtt_sat *s, uint32_t gen)
{
    if (s) {
        s->up = true;
        s->gen = gen;
    }
}

void mqtt_sat_disconnected(struct mqtt_sat *s)
{
    if (s) {
        s->up = false;
    }
}

static struct peer *peer(struct mqtt_sat *s, const char *device)
{
    for (size_t i = 0; i < s->n_peers; i++) {
        if (strcmp(s->peers[i].device, device) == 0) {
            return &s->peers[i];
        }
    }
    return NULL;
}

/* ---- the hub ------------------------------------------------------------------------------- */

static int64_t get_i64(const cJSON *o, const char *k, bool *ok)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 9e15) {
        *ok = false;
        return 0;
    }
    return (int64_t)v->valuedouble;
}

static const char *get_str(const cJSON *o, const char *k, size_t max, bool *ok)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsString(v) || !v->valuestring[0] || strlen(v->valuestring) >= max) {
        *ok = false;
        return "";
    }
    return v->valuestring;
}

static bool refusing(const struct mqtt_sat *s, const struct peer *p)
{
    int64_t max = (int64_t)cfg(s)->hub.clock_max_ms * 1000;
    return p->measured && (p->offset_us > max || p->offset_us < -max);
}

/* A satellite's observation: decoded in place into the one it carries, on the hub's clocks.
 * Returns 1 to drop it (malformed, from a stranger, refused for its clock), 0 to apply it. */
static int take_obs(struct mqtt_sat *s, struct peer *p, struct sk_obs *obs)
{
    const struct sk_config *c = cfg(s);
    cJSON *doc = cJSON_ParseWithLength(obs->u.command.payload, obs->u.command.payload_len);
    bool ok = cJSON_IsObject(doc);
    int64_t seq = ok ? get_i64(doc, "seq", &ok) : 0;
    int64_t n = ok ? get_i64(doc, "n", &ok) : 0;
    const char *lid = ok ? get_str(doc, "ledger_id", 40, &ok) : "";
    const char *dev = ok ? get_str(doc, "device_id", SK_NAME_MAX, &ok) : "";
    const char *store = ok ? get_str(doc, "store_id", SK_NAME_MAX, &ok) : "";
    struct sk_obs in;
    char err[160] = "not a satellite observation (sat/obs envelope)";
    if (ok && (strcmp(dev, p->device) != 0 || strcmp(store, c->store_id) != 0)) {
        ok = false;
        snprintf(err, sizeof(err), "its envelope names %s/%s", store, dev);
    }
    if (ok && (seq < 1 || n < 1 ||
               sk_record_obs_parse(cJSON_GetObjectItemCaseSensitive(doc, "obs"), &in, err,
                                   sizeof(err)) < 0)) {
        ok = false;
    }
    if (ok && !sk_obs_forwarded(in.type)) {
        snprintf(err, sizeof(err), "a %s observation is not a satellite's",
                 sk_obs_type_name(in.type));
        sk_obs_release(&in);
        ok = false;
    }
    if (ok) {
        const char *owner = sk_config_source_device(c, in.source);
        if (!owner || strcmp(owner, p->device) != 0) {
            snprintf(err, sizeof(err), "%s \"%s\" is not on %s in this store file",
                     in.type == SK_OBS_TAG_ARRIVED || in.type == SK_OBS_TAG_DEPARTED ||
                                     in.type == SK_OBS_READER_HEALTH
                             ? "reader"
                             : "camera",
                     in.source, p->device);
            ok = false;
        }
    }
    if (!ok) {
        p->malformed++;
        sk_complain(&p->complaint, now_mono(s), SK_LOG_WARNING, "satellite", p->device,
                    "an observation was dropped: %s", err);
        cJSON_Delete(doc);
        return 1;
    }
    snprintf(in.origin, sizeof(in.origin), "%s", p->device);
    snprintf(in.origin_ledger, sizeof(in.origin_ledger), "%s", lid);
    in.origin_seq = n;
    in.origin_mark = seq;
    cJSON_Delete(doc);
    if (strcmp(p->ledger_id, in.origin_ledger) != 0) {
        snprintf(p->ledger_id, sizeof(p->ledger_id), "%s", in.origin_ledger);
        p->seen_seq = 0;
        p->acked_seq = -1;
    }
    if (seq > p->seen_seq) {
        p->seen_seq = seq;
    }
    int64_t applied = 0, mark = 0;
    if (sk_ledger_origin_seq(s->ledger, p->device, p->ledger_id, &applied, &mark) == 0 &&
        n > applied + 1) {
        p->gap = true; /* the core will not apply it: tell the satellite now */
    }
    p->heard_mono_us = now_mono(s);
    if (refusing(s, p)) {
        p->refused++;
        sk_complain(&p->complaint, now_mono(s), SK_LOG_ERR, "satellite", p->device,
                    "its clock is %.0f ms off this hub's (hub.clock_max_ms %d): its observations "
                    "wait on it until chrony brings it back (docs/operator.md)",
                    (double)p->offset_us / 1000.0, c->hub.clock_max_ms);
        sk_obs_release(&in);
        return 1;
    }
    /* The satellite's wall time of it, on this hub's clocks. Not later than now: an offset
     * measured a little short must not put it in the future. */
    int64_t wall = in.wall_us - p->offset_us;
    int64_t wall_now = now_wall(s), mono_now = now_mono(s);
    if (wall > wall_now) {
        wall = wall_now;
    }
    int64_t mono = mono_now - (wall_now - wall);
    int64_t shift = mono - in.mono_us;
    if (in.type == SK_OBS_TAG_DEPARTED || in.type == SK_OBS_TAG_ARRIVED) {
        /* the satellite's monotonic times of the tag's interval, onto the hub's clock */
        int64_t *times[] = {&in.u.tag.last_seen_us, &in.u.tag.first_missed_us,
                            &in.u.tag.first_seen_us, &in.u.tag.absent_us};
        for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
            if (*times[i]) {
                *times[i] += shift;
            }
        }
    }
    p->lag_us = wall_now - wall;
    in.mono_us = mono;
    in.wall_us = wall;
    p->received++;
    sk_complain_release(&p->complaint, SK_LOG_NOTICE, "satellite", p->device,
                        "observations are taken again");
    sk_obs_release(obs);
    *obs = in;
    return 0;
}

static void take_pong(struct mqtt_sat *s, struct peer *p, const struct sk_obs *obs)
{
    cJSON *doc = cJSON_ParseWithLength(obs->u.command.payload, obs->u.command.payload_len);
    bool ok = cJSON_IsObject(doc);
    int64_t t0 = ok ? get_i64(doc, "ping_sent", &ok) : 0;
    int64_t t1 = ok ? get_i64(doc, "ping_received", &ok) : 0;
    int64_t t2 = ok ? get_i64(doc, "sent", &ok) : 0;
    int64_t t3 = obs->wall_us;
    bool ok2 = true;
    int64_t pending = ok ? get_i64(doc, "pending", &ok2) : 0;
    int64_t oldest = ok ? get_i64(doc, "oldest_pending", &ok2) : 0;
    int64_t dropped = ok ? get_i64(doc, "dropped", &ok2) : 0;
    /* Its stream: the hub then tells it what it recorded of it even before any observation
     * arrived (the first ones can be lost before this hub subscribed). */
    bool ok3 = true;
    const char *lid = ok ? get_str(doc, "ledger_id", 40, &ok3) : "";
    if (ok && ok3 && strcmp(p->ledger_id, lid) != 0) {
        snprintf(p->ledger_id, sizeof(p->ledger_id), "%s", lid);
        p->seen_seq = 0;
        p->acked_seq = -1;
    }
    cJSON_Delete(doc);
    p->heard_mono_us = now_mono(s);
    if (!ok || t0 <= 0 || t3 < t0 || t2 < t1) {
        p->malformed++;
        return;
    }
    struct sample *x = &p->samples[p->next_sample];
    x->offset_us = ((t1 - t0) + (t2 - t3)) / 2;
    x->rtt_us = (t3 - t0) - (t2 - t1);
    p->next_sample = (p->next_sample + 1) % SAMPLES;
    if (p->n_samples < SAMPLES) {
        p->n_samples++;
    }
    const struct sample *best = &p->samples[0];
    for (size_t i = 1; i < p->n_samples; i++) {
        if (p->samples[i].rtt_us < best->rtt_us) {
            best = &p->samples[i];
        }
    }
    bool was = refusing(s, p);
    p->offset_us = best->offset_us;
    p->rtt_us = best->rtt_us;
    p->measured = true;
    if (ok2) {
        p->pending = pending;
        p->oldest_pending_wall_us = oldest;
        p->dropped = dropped;
    }
    if (refusing(s, p) != was) {
        sk_log(was ? SK_LOG_NOTICE : SK_LOG_ERR, "satellite", p->device,
               "clock %.0f ms off this hub's: %s", (double)p->offset_us / 1000.0,
               was ? "within hub.clock_max_ms again, its observations are taken"
                   : "beyond hub.clock_max_ms, its observations are refused");
    }
}

/* The highest seq of each satellite recorded here, retained, once nothing can roll back. */
static void publish_acks(struct mqtt_sat *s)
{
    if (sk_ledger_depth(s->ledger) > 0) {
        return;
    }
    for (size_t i = 0; i < s->n_peers; i++) {
        struct peer *p = &s->peers[i];
        int64_t n = 0, seq = 0;
        if (!p->ledger_id[0] ||
            sk_ledger_origin_seq(s->ledger, p->device, p->ledger_id, &n, &seq) < 0 ||
            (n == p->acked_seq && !p->gap)) {
            continue;
        }
        cJSON *o = envelope(s, SCHEMA_ACK);
        if (!o) {
            return;
        }
        cJSON_AddStringToObject(o, "satellite", p->device);
        cJSON_AddStringToObject(o, "satellite_ledger_id", p->ledger_id);
        cJSON_AddNumberToObject(o, "recorded_n", (double)n);
        cJSON_AddNumberToObject(o, "recorded_seq", (double)seq);
        cJSON_AddBoolToObject(o, "resend", p->gap);
        char suffix[16 + SK_NAME_MAX], topic[SK_TOPIC_MAX];
        snprintf(suffix, sizeof(suffix), "sat/ack/%s", p->device);
        sk_mqtt_topic(cfg(s), suffix, topic, sizeof(topic));
        publish_json(s, topic, o, true);
        p->acked_seq = n;
        p->gap = false;
    }
}

static void ping(struct mqtt_sat *s)
{
    cJSON *o = envelope(s, SCHEMA_PING);
    if (!o) {
        return;
    }
    cJSON_AddNumberToObject(o, "sent", (double)now_wall(s));
    char topic[SK_TOPIC_MAX];
    sk_mqtt_topic(cfg(s), "sat/ping", topic, sizeof(topic));
    publish_json(s, topic, o, false);
}

/* ---- the satellite -------------------------------------------------------------------------- */

static void refresh_buffer(struct mqtt_sat *s)
{
    struct sk_outbox_stats st;
    if (sk_ledger_outbox_stats(s->ledger, &st) == 0) {
        s->pending = st.pending;
        s->first_pending = st.first_pending_seq;
        s->last_seq = st.last_seq;
    }
    s->stats_mono_us = now_mono(s);
}

static void pong(struct mqtt_sat *s, const struct sk_obs *obs)
{
    cJSON *doc = cJSON_ParseWithLength(obs->u.command.payload, obs->u.command.payload_len);
    bool ok = cJSON_IsObject(doc);
    int64_t t0 = ok ? get_i64(doc, "sent", &ok) : 0;
    cJSON_Delete(doc);
    s->hub_heard_mono_us = now_mono(s);
    if (!ok) {
        return;
    }
    cJSON *o = envelope(s, SCHEMA_PONG);
    if (!o) {
        return;
    }
    struct sk_outbox_stats st;
    memset(&st, 0, sizeof(st));
    sk_ledger_outbox_stats(s->ledger, &st);
    cJSON_AddNumberToObject(o, "ping_sent", (double)t0);
    cJSON_AddNumberToObject(o, "ping_received", (double)obs->wall_us);
    cJSON_AddNumberToObject(o, "pending", (double)st.pending);
    cJSON_AddNumberToObject(o, "oldest_pending", (double)st.oldest_pending_us);
    struct sk_core_stats cs;
    sk_core_get_stats(sk_runtime_core(s->rt), &cs);
    cJSON_AddNumberToObject(o, "dropped", (double)cs.buffer_dropped);
    cJSON_AddNumberToObject(o, "sent", (double)now_wall(s));
    char topic[SK_TOPIC_MAX];
    sk_mqtt_topic(cfg(s), "sat/pong", topic, sizeof(topic));
    publish_json(s, topic, o, false);
}

static void take_ack(struct mqtt_sat *s, const struct sk_obs *obs)
{
    cJSON *doc = cJSON_ParseWithLength(obs->u.command.payload, obs->u.command.payload_len);
    bool ok = cJSON_IsObject(doc);
    int64_t seq = ok ? get_i64(doc, "recorded_seq", &ok) : 0;
    const char *lid = ok ? get_str(doc, "satellite_ledger_id", 40, &ok) : "";
    if (ok && strcmp(lid, s->ledger_id) == 0) {
        s->hub_seq = seq;
        const cJSON *resend = cJSON_GetObjectItemCaseSensitive(doc, "resend");
        /* Once per loss: what is on its way after a resend makes the hub ask again until the
         * resent rows arrive. */
        if (cJSON_IsTrue(resend) && (!s->resent_from || seq >= s->resent_from)) {
            s->hub_asks = true;
        }
    }
    cJSON_Delete(doc);
    s->hub_heard_mono_us = now_mono(s);
}

/*
 * What the broker took but the hub has not recorded, satellite.ack_timeout_s on (doubling while
 * it keeps happening), is made pending again and sent once more. Only with no transaction open:
 * the rows must be pending when the outbox looks for them.
 */
static void check_hub(struct mqtt_sat *s)
{
    if (s->hub_seq < 0 || sk_ledger_depth(s->ledger) > 0) {
        return;
    }
    int64_t delivered = s->first_pending ? s->first_pending - 1 : s->last_seq;
    int64_t now = now_mono(s);
    if (delivered <= s->hub_seq) {
        s->behind_since_mono_us = 0;
        s->backoff = 1;
        return;
    }
    if (!s->behind_since_mono_us || s->hub_seq > s->behind_seq) {
        s->behind_since_mono_us = now; /* the hub makes progress: wait from here */
        s->behind_seq = s->hub_seq;
        return;
    }
    int64_t wait = (int64_t)cfg(s)->satellite.ack_timeout_s * 1000000 * s->backoff;
    if (!s->hub_asks && now - s->behind_since_mono_us < wait) {
        return;
    }
    bool asked = s->hub_asks;
    s->hub_asks = false;
    struct sk_outbox_resend rs;
    int r = sk_ledger_outbox_resend(s->ledger, s->hub_seq + 1, delivered, &rs);
    if (r < 0) {
        sk_complain(&s->complaint, now, SK_LOG_ERR, "satellite", NULL,
                    "cannot send observations again: %s (%s)", sk_strerror(r),
                    sk_ledger_errmsg(s->ledger));
        return;
    }
    mqtt_outbox_rewind(s->outbox, s->hub_seq + 1);
    s->resends++;
    s->resent_from = s->hub_seq + 1;
    sk_log(SK_LOG_NOTICE, "satellite", NULL,
           "hub %s recorded up to seq %" PRId64 " of %" PRId64 " the broker took%s: %" PRId64
           " observation(s) sent again",
           cfg(s)->satellite.hub, s->hub_seq, delivered,
           asked ? ", and lacks one" : " and is silent about the rest", rs.requeued + rs.pending);
    s->behind_since_mono_us = now;
    if (!asked && s->backoff < RESEND_MAX_X) {
        s->backoff *= 2;
    }
    refresh_buffer(s);
}

/* ---- the hooks ----------------------------------------------------------------------------- */

int mqtt_sat_rewrite(struct mqtt_sat *s, struct sk_obs *obs)
{
    if (!s || obs->type != SK_OBS_SATELLITE) {
        return 0;
    }
    const char *name = obs->u.command.name;
    if (is_hub(s)) {
        struct peer *p = peer(s, obs->source);
        if (!p) {
            return 1; /* a board this store file does not name */
        }
        if (strcmp(name, "obs") == 0) {
            return take_obs(s, p, obs);
        }
        if (strcmp(name, "pong") == 0) {
            take_pong(s, p, obs);
        }
        return 1;
    }
    if (strcmp(obs->source, cfg(s)->satellite.hub) != 0) {
        return 1;
    }
    if (strcmp(name, "ping") == 0) {
        pong(s, obs);
    } else if (strcmp(name, "ack") == 0 &&
               strcmp(obs->u.command.identity, cfg(s)->device_id) == 0) {
        take_ack(s, obs);
    }
    return 1;
}

void mqtt_sat_tick(struct mqtt_sat *s)
{
    if (!s) {
        return;
    }
    int64_t now = now_mono(s);
    if (is_hub(s)) {
        if (s->up && now - s->last_ping_mono_us >= (int64_t)cfg(s)->hub.ping_interval_ms * 1000) {
            s->last_ping_mono_us = now;
            ping(s);
        }
        if (s->up && now - s->last_ack_mono_us >= ACK_EVERY_US) {
            s->last_ack_mono_us = now;
            publish_acks(s);
        }
        return;
    }
    if (now - s->stats_mono_us >= STATS_EVERY || s->hub_asks) {
        refresh_buffer(s);
        check_hub(s);
    }
}

/* ---- what a technician sees -------------------------------------------------------------- */

cJSON *mqtt_sat_status(struct mqtt_sat *s)
{
    if (!s) {
        return NULL;
    }
    const struct sk_config *c = cfg(s);
    int64_t now = now_mono(s);
    if (!is_hub(s)) {
        cJSON *o = cJSON_CreateObject();
        if (!o) {
            return NULL;
        }
        cJSON_AddStringToObject(o, "hub", c->satellite.hub);
        bool heard = s->hub_heard_mono_us &&
                     now - s->hub_heard_mono_us < (int64_t)c->hub.silence_s * 1000000;
        cJSON_AddStringToObject(o, "link", heard ? "up" : "down");
        if (s->hub_heard_mono_us) {
            cJSON_AddNumberToObject(o, "heard_age_s", (double)(now - s->hub_heard_mono_us) / 1e6);
        }
        struct sk_core_stats cs;
        sk_core_get_stats(sk_runtime_core(s->rt), &cs);
        cJSON_AddNumberToObject(o, "pending", (double)s->pending);
        cJSON_AddNumberToObject(o, "buffer_max", c->satellite.buffer_max);
        cJSON_AddNumberToObject(o, "forwarded", (double)cs.forwarded);
        cJSON_AddNumberToObject(o, "dropped", (double)cs.buffer_dropped);
        cJSON_AddNumberToObject(o, "hub_recorded_seq", (double)s->hub_seq);
        cJSON_AddNumberToObject(o, "last_seq", (double)s->last_seq);
        cJSON_AddNumberToObject(o, "resends", (double)s->resends);
        return o;
    }
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr && i < s->n_peers; i++) {
        const struct peer *p = &s->peers[i];
        cJSON *o = cJSON_CreateObject();
        if (!o) {
            break;
        }
        cJSON_AddItemToArray(arr, o);
        cJSON_AddStringToObject(o, "device_id", p->device);
        bool heard =
                p->heard_mono_us && now - p->heard_mono_us < (int64_t)c->hub.silence_s * 1000000;
        cJSON_AddStringToObject(o, "link", heard ? "up" : "down");
        if (p->heard_mono_us) {
            cJSON_AddNumberToObject(o, "heard_age_s", (double)(now - p->heard_mono_us) / 1e6);
        }
        if (p->measured) {
            cJSON_AddNumberToObject(o, "clock_offset_ms", (double)p->offset_us / 1000.0);
            cJSON_AddNumberToObject(o, "clock_rtt_ms", (double)p->rtt_us / 1000.0);
        } else {
            cJSON_AddNullToObject(o, "clock_offset_ms");
        }
        cJSON_AddNumberToObject(o, "clock_max_ms", c->hub.clock_max_ms);
        cJSON_AddBoolToObject(o, "refused", refusing(s, p));
        cJSON_AddNumberToObject(o, "lag_ms", (double)p->lag_us / 1000.0);
        cJSON_AddNumberToObject(o, "pending", (double)p->pending);
        if (p->oldest_pending_wall_us) {
            cJSON_AddNumberToObject(o, "oldest_pending_age_s",
                                    (double)(now_wall(s) - p->oldest_pending_wall_us) / 1e6);
        }
        cJSON_AddNumberToObject(o, "dropped", (double)p->dropped);
        cJSON_AddNumberToObject(o, "received", (double)p->received);
        cJSON_AddNumberToObject(o, "refused_observations", (double)p->refused);
        cJSON_AddNumberToObject(o, "malformed", (double)p->malformed);
        cJSON_AddNumberToObject(o, "recorded_n", (double)(p->acked_seq > 0 ? p->acked_seq : 0));
        cJSON *src = cJSON_AddArrayToObject(o, "sources");
        for (size_t k = 0; src && k < c->n_readers; k++) {
            const char *d = sk_config_source_device(c, c->readers[k].name);
            if (d && strcmp(d, p->device) == 0) {
                cJSON_AddItemToArray(src, cJSON_CreateString(c->readers[k].name));
            }
        }
        for (size_t k = 0; src && k < c->n_cameras; k++) {
            if (strcmp(c->cameras[k].device_id, p->device) == 0) {
                cJSON_AddItemToArray(src, cJSON_CreateString(c->cameras[k].name));
            }
        }
    }
    return arr;
}
