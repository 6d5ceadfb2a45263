/* SPDX-License-Identifier: MIT */
/* The status service: what a technician asks the running daemon, on the core thread. */
#include "svc_status.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/epoll.h>
#include <sys/eventfd.h>

#include <cjson/cJSON.h>

#include "sk_build_info.h"
#include "status_http.h"
#include "storekeeper/clock.h"
#include "storekeeper/control.h"
#include "storekeeper/core.h"
#include "storekeeper/epc.h"
#include "storekeeper/error.h"
#include "storekeeper/ledger.h"
#include "storekeeper/log.h"
#include "storekeeper/mqtt.h"
#include "storekeeper/notify.h"
#include "storekeeper/queue.h"
#include "storekeeper/report.h"
#include "storekeeper/rfid.h"
#include "svc_camera.h"

/*
 * DESIGN
 * The daemon's picture of itself is kept where it is true: the core owns the queue, the
 * ledger and the present tags; bus threads own per-reader counters (read through the RFID
 * service's thread-safe accessors); everything producers report about their health reaches
 * the core as observations, which this service sees first (it is the first in the services
 * table and consumes nothing). Requests from the control socket and the HTTP listener are
 * served on the core thread's loop, so building the status document needs no lock, and a
 * slow or stuck client can never hold anything the store needs.
 *
 * Events by type and the last events come from the ledger's outbox (what the store really
 * committed), read incrementally once a second.
 */

#define RECENT_EVENTS   20
#define MAX_TOPICS      64
#define MAX_PENDING     8
#define TAGS_MAX        2048 /* tags in one `reader` reply */
#define TAGS_WAIT_US    3000000
#define LOG_LINES_MAX   20000
#define EVENTS_PER_TICK 512
#define SNAP_WAIT_US    5000000
#define SNAP_KEEP_US    (600LL * 1000000) /* the page shows a snapshot this long, then it goes */

struct reader_st {
    char name[SK_NAME_MAX];
    int state, reason;
    char detail[SK_TEXT_MAX];
    int64_t since_wall_us;
    uint64_t errors, arrivals, departures, changes;
    uint32_t rtt_us;
};

struct camera_st {
    char name[SK_NAME_MAX];
    int state, reason;
    char detail[SK_TEXT_MAX];
    int64_t since_wall_us;
    float fps, proc_ms;
    uint32_t occupancy;
    uint64_t processed, dropped, obs_dropped, entries, exits;
    int64_t last_flow_mono_us;
};

struct mqtt_st {
    int state; /* 0 connecting, 1 connected, 2 disconnected */
    int64_t since_wall_us;
    uint64_t connects, failures, pubacks;
    int reason_code;
    int protocol; /* 5, or 4 for 3.1.1 */
    bool tls;
    char detail[SK_TEXT_MAX];
};

struct recent_event {
    int64_t seq;
    char topic[64];
    char time[40];
    char summary[200];
};

/* A control call answered later, from the pending timer: a reader's tags, a camera's
 * snapshot. */
struct pending {
    struct sk_ctl_call *call;
    char name[SK_NAME_MAX]; /* the reader or the camera */
    int64_t asked_us;
};

/*
 * `diag ledger` runs PRAGMA integrity_check and walks the hash chain: seconds on a ledger of
 * millions of movements. Done on the loop's thread it would stall the core (the bus threads
 * wait on the full queue, the watchdog may fire), so a worker thread does it on its own
 * read-only connection (WAL: readers never block the writer, and see the last commit) and
 * wakes the loop through an eventfd to answer. One at a time.
 */
struct ledger_job {
    struct sk_status *st;
    struct sk_ctl_call *call;
    char path[SK_PATH_MAX * 2];
    size_t max_stock;
    int64_t t0;
    int efd;
    pthread_t thread;
    cJSON *result; /* the worker's answer; NULL with err set on failure */
    char err[300];
};

struct sk_status {
    struct sk_runtime *rt;
    struct sk_loop *loop;
    struct sk_ctl_server *ctl;
    struct sk_status_http *http;
    struct reader_st *readers;
    size_t n_readers;
    struct camera_st *cameras;
    size_t n_cameras;
    struct mqtt_st mqtt;

    struct {
        char topic[64];
        uint64_t n;
    } topics[MAX_TOPICS];

    size_t n_topics;
    struct recent_event recent[RECENT_EVENTS];
    size_t recent_n, recent_head;
    int64_t last_seen_seq;
    bool events_primed;
    struct pending pending[MAX_PENDING];
    size_t n_pending;
    struct pending snaps[MAX_PENDING];
    size_t n_snaps;
    struct sk_loop_timer *events_timer, *pending_timer;
    /* the latest technician snapshot (kept in memory only) */
    void *snap;
    size_t snap_len;
    char snap_camera[SK_NAME_MAX];
    int64_t snap_wall_us, snap_mono_us;
    struct ledger_job *ledger_job; /* running, or NULL */
};

static struct reader_st *find_reader(struct sk_status *st, const char *name)
{
    for (size_t i = 0; i < st->n_readers; i++) {
        if (strcmp(st->readers[i].name, name) == 0) {
            return &st->readers[i];
        }
    }
    return NULL;
}

static struct camera_st *find_camera(struct sk_status *st, const char *name)
{
    for (size_t i = 0; i < st->n_cameras; i++) {
        if (strcmp(st->cameras[i].name, name) == 0) {
            return &st->cameras[i];
        }
    }
    return NULL;
}

/* ---- what observations tell ------------------------------------------------------------------ */

static int status_handle(void *state, const struct sk_obs *obs)
{
    struct sk_status *st = state;
    switch (obs->type) {
    case SK_OBS_READER_HEALTH: {
        struct reader_st *r = find_reader(st, obs->source);
        if (r) {
            if (r->state != obs->u.health.state) {
                r->since_wall_us = obs->wall_us;
                r->changes++;
            }
            r->state = obs->u.health.state;
            r->reason = obs->u.health.reason;
            snprintf(r->detail, sizeof(r->detail), "%s", obs->u.health.detail);
            r->errors += obs->u.health.errors;
            if (obs->u.health.rtt_us) {
                r->rtt_us = obs->u.health.rtt_us;
            }
        }
        break;
    }
    case SK_OBS_TAG_ARRIVED:
    case SK_OBS_TAG_DEPARTED: {
        struct reader_st *r = find_reader(st, obs->source);
        if (r && obs->type == SK_OBS_TAG_ARRIVED) {
            r->arrivals++;
        } else if (r) {
            r->departures++;
        }
        break;
    }
    case SK_OBS_CAMERA_HEALTH: {
        struct camera_st *c = find_camera(st, obs->source);
        if (c) {
            if (c->state != obs->u.health.state) {
                c->since_wall_us = obs->wall_us;
            }
            c->state = obs->u.health.state;
            c->reason = obs->u.health.reason;
            snprintf(c->detail, sizeof(c->detail), "%s", obs->u.health.detail);
        }
        break;
    }
    case SK_OBS_FLOW: {
        struct camera_st *c = find_camera(st, obs->source);
        if (c) {
            const struct sk_obs_flow *f = &obs->u.flow;
            c->fps = f->fps;
            c->proc_ms = f->proc_ms;
            c->occupancy = f->occupancy;
            c->processed += f->processed;
            c->dropped += f->dropped;
            c->obs_dropped += f->obs_dropped;
            c->entries += f->entries;
            c->exits += f->exits;
            c->last_flow_mono_us = obs->mono_us;
        }
        break;
    }
    case SK_OBS_MQTT_LINK: {
        struct mqtt_st *m = &st->mqtt;
        int now_state = m->state;
        if (obs->u.mqtt.event == SK_MQTT_CONNECTED) {
            now_state = 1;
            m->connects++;
            m->protocol = obs->u.mqtt.protocol;
            m->tls = obs->u.mqtt.flags & SK_MQTT_F_TLS;
            m->detail[0] = '\0';
        } else if (obs->u.mqtt.event == SK_MQTT_DISCONNECTED ||
                   obs->u.mqtt.event == SK_MQTT_CONNECT_FAILED) {
            now_state = 2;
            m->failures += obs->u.mqtt.event == SK_MQTT_CONNECT_FAILED;
            m->reason_code = obs->u.mqtt.reason_code;
            snprintf(m->detail, sizeof(m->detail), "%s", obs->u.mqtt.detail);
        } else if (obs->u.mqtt.event == SK_MQTT_PUBACK) {
            m->pubacks++;
        }
        if (now_state != m->state) {
            m->since_wall_us = obs->wall_us;
            m->state = now_state;
        }
        break;
    }
    default:
        break;
    }
    return 0; /* seen, never consumed */
}

/* ---- events from the outbox -------------------------------------------------------------- */

static void count_topic(struct sk_status *st, const char *topic)
{
    for (size_t i = 0; i < st->n_topics; i++) {
        if (strcmp(st->topics[i].topic, topic) == 0) {
            st->topics[i].n++;
            return;
        }
    }
    if (st->n_topics < MAX_TOPICS) {
        snprintf(st->topics[st->n_topics].topic, sizeof(st->topics[0].topic), "%s", topic);
        st->topics[st->n_topics++].n = 1;
    }
}

/* A few fields of a payload a person recognises, "shelf=A1 sku=cola-033 quantity=1". */
static void summarise(const char *payload, size_t len, char *buf, size_t size)
{
    static const char *const keys[] = {"type",   "session_id", "session", "shelf",
                                       "sku",    "quantity",   "total",   "state",
                                       "reader", "camera",     "reason",  "kind"};
    buf[0] = '\0';
    cJSON *j = cJSON_ParseWithLength(payload, len);
    size_t off = 0;
    for (size_t k = 0; j && k < sizeof(keys) / sizeof(keys[0]) && off + 1 < size; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, keys[k]);
        int n = 0;
        if (cJSON_IsString(v)) {
            n = snprintf(buf + off, size - off, "%s%s=%.40s", off ? " " : "", keys[k],
                         v->valuestring);
        } else if (cJSON_IsNumber(v)) {
            n = snprintf(buf + off, size - off, "%s%s=%g", off ? " " : "", keys[k], v->valuedouble);
        }
        off += n > 0 ? (size_t)n : 0;
    }
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(j, "items");
    if (cJSON_IsArray(items) && off + 1 < size) {
        snprintf(buf + off, size - off, "%sitems=%d", off ? " " : "", cJSON_GetArraySize(items));
    }
    cJSON_Delete(j);
}

struct events_ctx {
    struct sk_status *st;
    bool count;
};

static int on_outbox_row(const struct sk_outbox_row *row, void *ctx)
{
    struct events_ctx *e = ctx;
    struct sk_status *st = e->st;
    if (e->count) {
        count_topic(st, row->topic);
    }
    struct recent_event *r;
    if (st->recent_n < RECENT_EVENTS) {
        r = &st->recent[(st->recent_head + st->recent_n++) % RECENT_EVENTS];
    } else {
        r = &st->recent[st->recent_head];
        st->recent_head = (st->recent_head + 1) % RECENT_EVENTS;
    }
    r->seq = row->seq;
    snprintf(r->topic, sizeof(r->topic), "%s", row->topic);
    sk_format_time_utc(row->created_us, r->time, sizeof(r->time));
    summarise(row->payload, row->payload_len, r->summary, sizeof(r->summary));
    st->last_seen_seq = row->seq;
    return 0;
}

static void read_events(struct sk_status *st)
{
    struct sk_ledger *l = sk_runtime_ledger(st->rt);
    if (!l) {
        return;
    }
    if (!st->events_primed) {
        /* the last few from before this start fill the page; they are not counted */
        struct sk_outbox_stats os;
        if (sk_ledger_outbox_stats(l, &os) < 0) {
            return;
        }
        int64_t from = os.last_seq > RECENT_EVENTS ? os.last_seq - RECENT_EVENTS : 0;
        struct events_ctx e = {st, false};
        st->last_seen_seq = from;
        if (sk_ledger_outbox_rows(l, from, RECENT_EVENTS, false, on_outbox_row, &e) < 0) {
            return;
        }
        st->last_seen_seq = os.last_seq > st->last_seen_seq ? os.last_seq : st->last_seen_seq;
        st->events_primed = true;
        return;
    }
    struct events_ctx e = {st, true};
    sk_ledger_outbox_rows(l, st->last_seen_seq, EVENTS_PER_TICK, false, on_outbox_row, &e);
}

static void on_events_timer(struct sk_loop *loop, uint64_t expirations, void *ctx)
{
    (void)loop;
    (void)expirations;
    struct sk_status *st = ctx;
    read_events(st);
    if (st->snap && sk_now_mono_us() - st->snap_mono_us > SNAP_KEEP_US) {
        free(st->snap); /* a technician's image is not kept around */
        st->snap = NULL;
        st->snap_len = 0;
    }
}

/* ---- the status document ------------------------------------------------------------------- */

struct loops_ctx {
    cJSON *arr;
};

static void on_loop(const char *name, int64_t age_us, int64_t limit_us, void *ctx)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        return;
    }
    cJSON_AddStringToObject(o, "name", name);
    cJSON_AddNumberToObject(o, "age_ms", age_us < 0 ? 0 : (double)age_us / 1000.0);
    cJSON_AddNumberToObject(o, "limit_ms", (double)limit_us / 1000.0);
    cJSON_AddBoolToObject(o, "stale", age_us > limit_us);
    cJSON_AddItemToArray(((struct loops_ctx *)ctx)->arr, o);
}

static cJSON *reader_json(struct sk_status *st, const struct sk_config *cfg, size_t i)
{
    const struct sk_reader_cfg *rc = &cfg->readers[i];
    const struct reader_st *r = find_reader(st, rc->name);
    struct sk_status_health h = {.state = SK_HEALTH_UNKNOWN};
    if (r) {
        h = (struct sk_status_health){r->state, r->reason, r->detail, r->since_wall_us};
    }
    struct sk_rfid *rf = sk_runtime_service_state(st->rt, "rfid");
    struct sk_rfid_reader_stats rs;
    bool have_rs = rf && sk_rfid_reader_stats(rf, rc->name, &rs) == 0;
    cJSON *o = sk_status_reader_new(cfg, rc, &h, have_rs ? &rs : NULL);
    if (o && r) {
        cJSON_AddNumberToObject(o, "arrivals", (double)r->arrivals);
        cJSON_AddNumberToObject(o, "departures", (double)r->departures);
        cJSON_AddNumberToObject(o, "state_changes", (double)r->changes);
    }
    return o;
}

static cJSON *camera_json(struct sk_status *st, const struct sk_config *cfg, size_t i)
{
    const struct sk_camera_cfg *cc = &cfg->cameras[i];
    const struct camera_st *c = find_camera(st, cc->name);
    if (!c) {
        return cJSON_CreateObject();
    }
    struct sk_status_health h = {c->state, c->reason, c->detail, c->since_wall_us};
    cJSON *o = sk_status_camera_new(cfg, cc, &h);
    if (!o) {
        return NULL;
    }
    cJSON_AddNumberToObject(o, "fps", c->fps);
    cJSON_AddNumberToObject(o, "occupancy", c->occupancy);
    cJSON_AddNumberToObject(o, "proc_ms", c->proc_ms);
    cJSON_AddNumberToObject(o, "frames_processed", (double)c->processed);
    cJSON_AddNumberToObject(o, "frames_dropped", (double)c->dropped);
    cJSON_AddNumberToObject(o, "observations_dropped", (double)c->obs_dropped);
    cJSON_AddNumberToObject(o, "entries", (double)c->entries);
    cJSON_AddNumberToObject(o, "exits", (double)c->exits);
    if (c->last_flow_mono_us) {
        cJSON_AddNumberToObject(o, "last_flow_age_s",
                                (double)(sk_now_mono_us() - c->last_flow_mono_us) / 1e6);
    }
    return o;
}

static void add_mqtt(struct sk_status *st, const struct sk_config *cfg, cJSON *doc)
{
    cJSON *m = cJSON_AddObjectToObject(doc, "mqtt");
    if (!m) {
        return;
    }
    cJSON_AddBoolToObject(m, "enabled", cfg->mqtt.enabled);
    char broker[SK_HOST_MAX + 16];
    snprintf(broker, sizeof(broker), "%s:%d", cfg->mqtt.host, cfg->mqtt.port);
    cJSON_AddStringToObject(m, "broker", broker);
    cJSON_AddBoolToObject(m, "tls", cfg->mqtt.tls);
    const char *state;
    if (!cfg->mqtt.enabled) {
        state = "disabled";
    } else if (!sk_runtime_service_state(st->rt, "mqtt")) {
        state = "unavailable";
    } else {
        state = st->mqtt.state == 1   ? "connected"
                : st->mqtt.state == 2 ? "disconnected"
                                      : "connecting";
    }
    cJSON_AddStringToObject(m, "state", state);
    sk_status_add_time(m, "since", st->mqtt.since_wall_us);
    cJSON_AddNumberToObject(m, "connects", (double)st->mqtt.connects);
    cJSON_AddNumberToObject(m, "failures", (double)st->mqtt.failures);
    cJSON_AddNumberToObject(m, "acknowledged", (double)st->mqtt.pubacks);
    if (st->mqtt.state == 1) {
        cJSON_AddStringToObject(m, "protocol", st->mqtt.protocol == 5 ? "5" : "3.1.1");
    }
    if (st->mqtt.state == 2 && st->mqtt.detail[0]) {
        cJSON_AddStringToObject(m, "detail", st->mqtt.detail);
    }
    if (st->mqtt.state == 2 && st->mqtt.reason_code) {
        cJSON_AddNumberToObject(m, "reason_code", st->mqtt.reason_code);
    }
}

/* The status document (docs/technician.md, "Status document"); owned by the caller. NULL when
 * out of memory. */
static cJSON *status_document(struct sk_status *st)
{
    struct sk_runtime *rt = st->rt;
    const struct sk_config *cfg = sk_runtime_config(rt);
    struct sk_runtime_stats rs;
    sk_runtime_get_stats(rt, &rs);
    struct sk_core_stats cs;
    sk_core_get_stats(sk_runtime_core(rt), &cs);
    int64_t now_mono = sk_now_mono_us(), now_wall = sk_now_wall_us();
    cJSON *d = sk_status_doc_new(cfg, "daemon", rs.config_path);
    if (!d) {
        return NULL;
    }
    cJSON_AddNumberToObject(d, "pid", getpid());
    sk_status_add_time(d, "started", rs.started_wall_us);
    cJSON_AddNumberToObject(d, "uptime_s", (double)(now_mono - cs.started_mono_us) / 1e6);
    cJSON *r = cJSON_AddObjectToObject(d, "runtime");
    if (r) {
        cJSON_AddStringToObject(r, "state", rs.degraded ? "degraded" : "running");
        if (rs.degraded) {
            cJSON_AddStringToObject(r, "degraded_reason", sk_strerror(rs.last_err));
            cJSON_AddNumberToObject(r, "degraded_for_s",
                                    (double)(now_mono - rs.degraded_since_us) / 1e6);
        }
        cJSON_AddNumberToObject(r, "batches", (double)rs.batches);
        cJSON_AddNumberToObject(r, "retries", (double)rs.retries);
        cJSON_AddNumberToObject(r, "batch_held", (double)rs.batch_held);
        if (rs.catalog_error[0]) {
            cJSON_AddStringToObject(r, "catalog_error", rs.catalog_error);
        }
    }
    struct sk_queue_stats qs;
    sk_queue_get_stats(sk_runtime_queue(rt), &qs);
    cJSON *q = cJSON_AddObjectToObject(d, "queue");
    if (q) {
        cJSON_AddNumberToObject(q, "depth", (double)qs.depth);
        cJSON_AddNumberToObject(q, "capacity", (double)qs.capacity);
        cJSON_AddNumberToObject(q, "high_mark", (double)qs.high_mark);
        cJSON_AddNumberToObject(q, "low_mark", (double)qs.low_mark);
        cJSON_AddNumberToObject(q, "max_depth", (double)qs.max_depth);
        cJSON_AddNumberToObject(q, "pushed", (double)qs.pushed);
        cJSON_AddNumberToObject(q, "dropped", (double)qs.dropped);
        cJSON_AddNumberToObject(q, "waits", (double)qs.waits);
    }
    cJSON *ob = cJSON_AddObjectToObject(d, "observations");
    for (int t = SK_OBS_NONE + 1; ob && t < SK_OBS_TYPE_COUNT; t++) {
        cJSON_AddNumberToObject(ob, sk_obs_type_name(t), (double)cs.handled[t]);
    }
    cJSON *co = cJSON_AddObjectToObject(d, "core");
    if (co) {
        cJSON_AddNumberToObject(co, "ticks", (double)cs.ticks);
        cJSON_AddNumberToObject(co, "present_tags",
                                (double)sk_tagset_count(sk_core_present(sk_runtime_core(rt))));
        cJSON_AddNumberToObject(co, "present_overflow", (double)cs.present_overflow);
        cJSON_AddNumberToObject(co, "censuses", (double)cs.censuses);
        cJSON_AddNumberToObject(co, "census_failures", (double)cs.census_failures);
    }
    struct loops_ctx lc = {cJSON_AddArrayToObject(d, "loops")};
    if (lc.arr) {
        sk_heartbeat_foreach(now_mono, on_loop, &lc);
    }
    cJSON *led = cJSON_AddObjectToObject(d, "ledger");
    struct sk_ledger *l = sk_runtime_ledger(rt);
    struct sk_outbox_stats os;
    if (led && l) {
        char path[SK_PATH_MAX * 2];
        sk_config_resolve_path(cfg, cfg->ledger.path, path, sizeof(path));
        cJSON_AddStringToObject(led, "path", path);
        cJSON_AddBoolToObject(led, "full", sk_ledger_is_full(l));
        if (sk_ledger_outbox_stats(l, &os) == 0) {
            sk_status_add_outbox(led, &os, now_wall);
        }
    }
    cJSON *buses = cJSON_AddArrayToObject(d, "buses");
    for (size_t i = 0; buses && i < cfg->n_buses; i++) {
        cJSON *b = cJSON_CreateObject();
        char url[SK_URL_MAX + SK_PATH_MAX];
        bool rs485 = false;
        if (!b) {
            break;
        }
        if (sk_rfid_bus_url(cfg, &cfg->buses[i], url, sizeof(url), &rs485) < 0) {
            snprintf(url, sizeof(url), "%s", cfg->buses[i].url);
        }
        cJSON_AddStringToObject(b, "name", cfg->buses[i].name);
        cJSON_AddStringToObject(b, "url", url);
        cJSON_AddBoolToObject(b, "rs485", rs485);
        cJSON_AddNumberToObject(b, "poll_interval_ms", cfg->buses[i].poll_interval_ms);
        cJSON_AddItemToArray(buses, b);
    }
    cJSON *readers = cJSON_AddArrayToObject(d, "readers");
    for (size_t i = 0; readers && i < cfg->n_readers; i++) {
        cJSON *o = reader_json(st, cfg, i);
        if (o) {
            cJSON_AddItemToArray(readers, o);
        }
    }
    cJSON *cams = cJSON_AddArrayToObject(d, "cameras");
    double occupancy = 0;
    for (size_t i = 0; cams && i < cfg->n_cameras; i++) {
        cJSON *o = camera_json(st, cfg, i);
        if (o) {
            occupancy += cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(o, "occupancy"));
            cJSON_AddItemToArray(cams, o);
        }
    }
    if (isnan(occupancy)) {
        occupancy = 0;
    }
    cJSON_AddNumberToObject(d, "occupancy", occupancy);
    add_mqtt(st, cfg, d);
    /* The store's other boards, as the MQTT service follows them (docs/operator.md). */
    void *ms = sk_runtime_service_state(rt, "mqtt");
    cJSON *boards = ms ? sk_mqtt_boards_status(ms) : NULL;
    if (boards) {
        cJSON_AddItemToObject(d, cfg->role == SK_ROLE_SATELLITE ? "satellite" : "satellites",
                              boards);
    }
    read_events(st);
    cJSON *ev = cJSON_AddObjectToObject(d, "events");
    if (ev) {
        cJSON *bt = cJSON_AddObjectToObject(ev, "by_type");
        for (size_t i = 0; bt && i < st->n_topics; i++) {
            cJSON_AddNumberToObject(bt, st->topics[i].topic, (double)st->topics[i].n);
        }
        cJSON *rec = cJSON_AddArrayToObject(ev, "recent");
        for (size_t i = 0; rec && i < st->recent_n; i++) {
            const struct recent_event *e = &st->recent[(st->recent_head + i) % RECENT_EVENTS];
            cJSON *o = cJSON_CreateObject();
            if (!o) {
                break;
            }
            cJSON_AddNumberToObject(o, "seq", (double)e->seq);
            cJSON_AddStringToObject(o, "topic", e->topic);
            cJSON_AddStringToObject(o, "time", e->time);
            cJSON_AddStringToObject(o, "summary", e->summary);
            cJSON_AddItemToArray(rec, o);
        }
    }
    cJSON *ctl = cJSON_AddObjectToObject(d, "control");
    if (ctl) {
        struct sk_ctl_stats cst = {0};
        if (st->ctl) {
            sk_ctl_server_get_stats(st->ctl, &cst);
            cJSON_AddStringToObject(ctl, "socket", sk_ctl_server_path(st->ctl));
        }
        cJSON_AddNumberToObject(ctl, "clients", (double)cst.clients);
        cJSON_AddNumberToObject(ctl, "requests", (double)cst.requests);
        cJSON_AddNumberToObject(ctl, "refused", (double)(cst.refused + cst.malformed));
    }
    cJSON *h = cJSON_AddObjectToObject(d, "http");
    if (h) {
        cJSON_AddBoolToObject(h, "enabled", st->http != NULL);
        if (st->http) {
            char url[SK_HOST_MAX + 32];
            bool v6 = strchr(cfg->http.address, ':') != NULL;
            snprintf(url, sizeof(url), "http://%s%s%s:%d/", v6 ? "[" : "", cfg->http.address,
                     v6 ? "]" : "", cfg->http.port);
            cJSON_AddStringToObject(h, "url", url);
        }
    }
    if (st->snap) {
        cJSON *s = cJSON_AddObjectToObject(d, "snapshot");
        if (s) {
            cJSON_AddStringToObject(s, "camera", st->snap_camera);
            sk_status_add_time(s, "time", st->snap_wall_us);
            cJSON_AddNumberToObject(s, "bytes", (double)st->snap_len);
            cJSON_AddNumberToObject(s, "expires_in_s",
                                    (double)(SNAP_KEEP_US - (now_mono - st->snap_mono_us)) / 1e6);
        }
    } else {
        cJSON_AddNullToObject(d, "snapshot");
    }
    return d;
}

static cJSON *document_cb(void *ctx)
{
    return status_document(ctx);
}

/* The latest technician snapshot, if one is kept: PNG bytes (borrowed) and its camera. */
static const void *snapshot_cb(void *ctx, size_t *ret_len, char *camera, size_t size)
{
    struct sk_status *st = ctx;
    if (!st->snap) {
        return NULL;
    }
    *ret_len = st->snap_len;
    snprintf(camera, size, "%s", st->snap_camera);
    return st->snap;
}

/* ---- control commands ---------------------------------------------------------------------- */

static void cmd_hello(void *ctx, struct sk_ctl_call *call, const cJSON *req)
{
    (void)req;
    struct sk_status *st = ctx;
    const struct sk_config *cfg = sk_runtime_config(st->rt);
    struct sk_runtime_stats rs;
    sk_runtime_get_stats(st->rt, &rs);
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddNumberToObject(o, "pid", getpid());
        cJSON_AddStringToObject(o, "store_id", cfg->store_id);
        cJSON_AddStringToObject(o, "device_id", cfg->device_id);
        cJSON_AddStringToObject(o, "config_path", rs.config_path);
        cJSON_AddStringToObject(o, "config_hash", cfg->hash);
    }
    sk_ctl_reply(call, o, NULL, 0);
}

static void cmd_status(void *ctx, struct sk_ctl_call *call, const cJSON *req)
{
    (void)req;
    cJSON *d = status_document(ctx);
    if (!d) {
        sk_ctl_reply_error(call, "failed", "out of memory");
        return;
    }
    sk_ctl_reply(call, d, NULL, 0);
}

static void cmd_metrics(void *ctx, struct sk_ctl_call *call, const cJSON *req)
{
    (void)req;
    cJSON *d = status_document(ctx);
    char *text = d ? sk_report_metrics(d) : NULL;
    cJSON_Delete(d);
    cJSON *o = text ? cJSON_CreateObject() : NULL;
    if (!o) {
        free(text);
        sk_ctl_reply_error(call, "failed", "out of memory");
        return;
    }
    cJSON_AddStringToObject(o, "text", text);
    free(text);
    sk_ctl_reply(call, o, NULL, 0);
}

static void add_line(const char *line, void *ctx)
{
    cJSON_AddItemToArray(ctx, cJSON_CreateString(line));
}

static void cmd_log(void *ctx, struct sk_ctl_call *call, const cJSON *req)
{
    (void)ctx;
    const cJSON *max = cJSON_GetObjectItemCaseSensitive(req, "max");
    double n = cJSON_IsNumber(max) ? max->valuedouble : 500;
    if (!(n >= 1 && n <= LOG_LINES_MAX)) {
        sk_ctl_reply_error(call, "invalid", "\"max\" must be 1..%d", LOG_LINES_MAX);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *lines = o ? cJSON_AddArrayToObject(o, "lines") : NULL;
    if (!lines) {
        cJSON_Delete(o);
        sk_ctl_reply_error(call, "failed", "out of memory");
        return;
    }
    sk_log_ring_foreach((size_t)n, add_line, lines);
    cJSON_AddNumberToObject(o, "written_since_start", (double)sk_log_ring_total());
    sk_ctl_reply(call, o, NULL, 0);
}

static void *ledger_worker(void *arg)
{
    struct ledger_job *j = arg;
    pthread_setname_np(pthread_self(), "diag-ledger");
    struct sk_ledger_opts lo = {.path = j->path, .flags = SK_LEDGER_NO_CHECK};
    struct sk_ledger *l = NULL;
    int r = sk_ledger_open(&lo, j->err, sizeof(j->err), &l);
    if (r == 0) {
        j->result = sk_report_ledger(l, true, j->max_stock);
        if (!j->result) {
            snprintf(j->err, sizeof(j->err), "out of memory");
        }
        sk_ledger_close(l);
    }
    uint64_t one = 1;
    ssize_t w = write(j->efd, &one, sizeof(one));
    (void)w; /* an eventfd write of 1 cannot fail short of overflow */
    return NULL;
}

static void ledger_job_free(struct sk_status *st, struct ledger_job *j)
{
    pthread_join(j->thread, NULL);
    sk_loop_del(st->loop, j->efd);
    close(j->efd);
    cJSON_Delete(j->result);
    free(j);
    st->ledger_job = NULL;
}

static void on_ledger_done(struct sk_loop *loop, int fd, uint32_t events, void *ctx)
{
    (void)loop;
    (void)events;
    struct ledger_job *j = ctx;
    uint64_t n;
    if (read(fd, &n, sizeof(n)) != (ssize_t)sizeof(n)) {
        return;
    }
    if (j->result) {
        cJSON_AddNumberToObject(j->result, "took_ms", (double)(sk_now_mono_us() - j->t0) / 1000.0);
        sk_ctl_reply(j->call, j->result, NULL, 0);
        j->result = NULL;
    } else {
        sk_ctl_reply_error(j->call, "failed", "%s", j->err);
    }
    ledger_job_free(j->st, j);
}

static void cmd_ledger(void *ctx, struct sk_ctl_call *call, const cJSON *req)
{
    struct sk_status *st = ctx;
    const cJSON *max = cJSON_GetObjectItemCaseSensitive(req, "max_stock");
    double n = cJSON_IsNumber(max) ? max->valuedouble : 200;
    if (!(n >= 0 && n <= 100000)) {
        sk_ctl_reply_error(call, "invalid", "\"max_stock\" must be 0..100000");
        return;
    }
    struct sk_ledger *l = sk_runtime_ledger(st->rt);
    struct sk_ledger_info info;
    if (!l || sk_ledger_get_info(l, &info) < 0) {
        sk_ctl_reply_error(call, "unavailable", "the daemon has no ledger open");
        return;
    }
    if (st->ledger_job) {
        sk_ctl_reply_error(call, "busy", "a ledger check is running; try again when it ends");
        return;
    }
    struct ledger_job *j = calloc(1, sizeof(*j));
    if (!j) {
        sk_ctl_reply_error(call, "failed", "out of memory");
        return;
    }
    j->st = st;
    j->call = call;
    j->max_stock = (size_t)n;
    j->t0 = sk_now_mono_us();
    snprintf(j->path, sizeof(j->path), "%s", info.path);
    j->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    int r = j->efd < 0 ? -errno : sk_loop_add(st->loop, j->efd, EPOLLIN, on_ledger_done, j);
    if (r == 0) {
        r = -pthread_create(&j->thread, NULL, ledger_worker, j);
        if (r < 0) {
            sk_loop_del(st->loop, j->efd);
        }
    }
    if (r < 0) {
        if (j->efd >= 0) {
            close(j->efd);
        }
        free(j);
        sk_ctl_reply_error(call, "failed", "cannot start the ledger check: %s", sk_strerror(r));
        return;
    }
    st->ledger_job = j;
}

static cJSON *tags_json(const struct sk_rfid_tag_view *v, int n, int64_t now)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        if (!o) {
            break;
        }
        struct sk_epc e;
        sk_epc_decode(v[i].epc, v[i].epc_len, &e);
        cJSON_AddNumberToObject(o, "antenna", v[i].antenna);
        cJSON_AddStringToObject(o, "epc", e.hex);
        if (e.gtin14[0]) {
            cJSON_AddStringToObject(o, "gtin", e.gtin14);
        }
        if (v[i].rssi_cdbm != INT16_MIN) {
            cJSON_AddNumberToObject(o, "rssi_dbm", v[i].rssi_cdbm / 100.0);
        }
        cJSON_AddNumberToObject(o, "reads", v[i].reads);
        cJSON_AddNumberToObject(o, "age_s", (double)(now - v[i].last_seen_us) / 1e6);
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

/* Answers a pending `reader` call with the bus thread's copy (fresh or, after the wait, the
 * latest there is). */
static void answer_reader(struct sk_status *st, struct pending *p, bool timed_out)
{
    const struct sk_config *cfg = sk_runtime_config(st->rt);
    struct sk_rfid *rf = sk_runtime_service_state(st->rt, "rfid");
    cJSON *o = cJSON_CreateObject();
    size_t idx = 0;
    while (idx < cfg->n_readers && strcmp(cfg->readers[idx].name, p->name) != 0) {
        idx++;
    }
    struct sk_rfid_tag_view *v = malloc(TAGS_MAX * sizeof(*v));
    int64_t taken = 0;
    int total = rf && v ? sk_rfid_tags(rf, p->name, v, TAGS_MAX, &taken) : 0;
    if (!o || !v || idx == cfg->n_readers) {
        cJSON_Delete(o);
        free(v);
        sk_ctl_reply_error(p->call, "failed", "out of memory");
        return;
    }
    int64_t now = sk_now_mono_us();
    cJSON_AddItemToObject(o, "reader", reader_json(st, cfg, idx));
    cJSON_AddNumberToObject(o, "tags_total", total < 0 ? 0 : total);
    cJSON_AddItemToObject(o, "tags",
                          tags_json(v,
                                    total < 0          ? 0
                                    : total < TAGS_MAX ? total
                                                       : TAGS_MAX,
                                    now));
    cJSON_AddNumberToObject(o, "view_age_ms", taken ? (double)(now - taken) / 1000.0 : -1);
    cJSON_AddBoolToObject(o, "fresh", !timed_out);
    free(v);
    sk_ctl_reply(p->call, o, NULL, 0);
}

static void on_pending_timer(struct sk_loop *loop, uint64_t expirations, void *ctx)
{
    (void)loop;
    (void)expirations;
    struct sk_status *st = ctx;
    struct sk_rfid *rf = sk_runtime_service_state(st->rt, "rfid");
    int64_t now = sk_now_mono_us();
    for (size_t i = 0; i < st->n_pending;) {
        struct pending *p = &st->pending[i];
        int64_t taken = 0;
        struct sk_rfid_tag_view one;
        if (rf) {
            sk_rfid_tags(rf, p->name, &one, 1, &taken);
        }
        bool fresh = taken >= p->asked_us;
        if (fresh || !rf || now - p->asked_us > TAGS_WAIT_US) {
            answer_reader(st, p, !fresh);
            st->pending[i] = st->pending[--st->n_pending];
            continue;
        }
        i++;
    }
    void *cams = sk_runtime_service_state(st->rt, "camera");
    for (size_t i = 0; i < st->n_snaps;) {
        struct pending *p = &st->snaps[i];
        void *png = NULL;
        size_t len = 0;
        int64_t wall = 0;
        int r = cams ? svc_camera_take_snapshot(cams, p->name, &png, &len, &wall) : -ENODEV;
        bool late = now - p->asked_us > SNAP_WAIT_US;
        if (r == 0 && !late) {
            i++;
            continue;
        }
        if (r == 1) {
            void *copy = malloc(len);
            cJSON *o = copy ? cJSON_CreateObject() : NULL;
            if (!o) {
                free(copy);
                free(png);
                sk_ctl_reply_error(p->call, "failed", "out of memory");
            } else {
                memcpy(copy, png, len);
                free(st->snap);
                st->snap = png; /* kept for the status page, in memory only */
                st->snap_len = len;
                st->snap_wall_us = wall;
                st->snap_mono_us = now;
                snprintf(st->snap_camera, sizeof(st->snap_camera), "%s", p->name);
                cJSON_AddStringToObject(o, "camera", p->name);
                sk_status_add_time(o, "time", wall);
                cJSON_AddNumberToObject(o, "bytes", (double)len);
                sk_ctl_reply(p->call, o, copy, len);
            }
        } else if (r == 0) {
            sk_ctl_reply_error(p->call, "timeout",
                               "camera %s processed no frame within %lld s: look at diag status",
                               p->name, (long long)(SNAP_WAIT_US / 1000000));
        } else {
            sk_ctl_reply_error(p->call, "failed", "the snapshot of camera %s failed: %s", p->name,
                               sk_strerror(r));
        }
        st->snaps[i] = st->snaps[--st->n_snaps];
    }
    if (st->n_pending == 0 && st->n_snaps == 0) {
        sk_loop_timer_set(st->pending_timer, 0, 0);
    }
}

/* Queues call for the pending timer (started here); NULL, and answered "busy", when MAX_PENDING
 * of its kind wait already. */
static const struct pending *pending_add(struct sk_status *st,
                                         struct pending *queue,
                                         size_t *n,
                                         struct sk_ctl_call *call,
                                         const char *name,
                                         const char *what)
{
    if (*n == MAX_PENDING) {
        sk_ctl_reply_error(call, "busy", "%d %s are being taken; try again", MAX_PENDING, what);
        return NULL;
    }
    struct pending *p = &queue[(*n)++];
    p->call = call;
    snprintf(p->name, sizeof(p->name), "%s", name);
    p->asked_us = sk_now_mono_us();
    sk_loop_timer_set(st->pending_timer, 20, 50);
    return p;
}

static void cmd_snapshot(void *ctx, struct sk_ctl_call *call, const cJSON *req)
{
    struct sk_status *st = ctx;
    const struct sk_config *cfg = sk_runtime_config(st->rt);
    const cJSON *cam = cJSON_GetObjectItemCaseSensitive(req, "camera");
    const cJSON *scale = cJSON_GetObjectItemCaseSensitive(req, "scale");
    int sc = cJSON_IsNumber(scale) ? (int)scale->valuedouble : 2;
    if (!cJSON_IsString(cam) || !sk_config_camera(cfg, cam->valuestring)) {
        sk_ctl_reply_error(call, "invalid", "no camera named \"%.40s\"",
                           cJSON_IsString(cam) ? cam->valuestring : "");
        return;
    }
    if (sc < 1 || sc > 4) {
        sk_ctl_reply_error(call, "invalid", "\"scale\" must be 1..4");
        return;
    }
    void *cams = sk_runtime_service_state(st->rt, "camera");
    if (!cams) {
        sk_ctl_reply_error(call, "unavailable", "the camera service does not run");
        return;
    }
    const struct pending *p =
            pending_add(st, st->snaps, &st->n_snaps, call, cam->valuestring, "snapshots");
    if (p) {
        svc_camera_request_snapshot(cams, p->name, sc);
    }
}

static void cmd_reader(void *ctx, struct sk_ctl_call *call, const cJSON *req)
{
    struct sk_status *st = ctx;
    const struct sk_config *cfg = sk_runtime_config(st->rt);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(req, "name");
    if (!cJSON_IsString(name) || !sk_config_reader(cfg, name->valuestring)) {
        char names[400] = "";
        size_t off = 0;
        for (size_t i = 0; i < cfg->n_readers && off < sizeof(names); i++) {
            int n = snprintf(names + off, sizeof(names) - off, "%s%s", i ? ", " : "",
                             cfg->readers[i].name);
            off += n > 0 ? (size_t)n : 0;
        }
        sk_ctl_reply_error(call, "invalid", "no reader named \"%.40s\" (readers: %s)",
                           cJSON_IsString(name) ? name->valuestring : "",
                           names[0] ? names : "none");
        return;
    }
    struct sk_rfid *rf = sk_runtime_service_state(st->rt, "rfid");
    const struct pending *p =
            pending_add(st, st->pending, &st->n_pending, call, name->valuestring, "reader views");
    if (p && rf) {
        sk_rfid_request_tags(rf, p->name);
    }
}

/* ---- lifecycle ----------------------------------------------------------------------------- */

static void status_stop(void *state)
{
    struct sk_status *st = state;
    if (!st) {
        return;
    }
    status_http_stop(st->http);
    if (st->ledger_job) {
        ledger_job_free(st, st->ledger_job); /* waits for the check; its call is dropped */
    }
    sk_ctl_server_free(st->ctl); /* pending reader calls are dropped with it */
    if (st->events_timer) {
        sk_loop_timer_del(st->loop, st->events_timer);
    }
    if (st->pending_timer) {
        sk_loop_timer_del(st->loop, st->pending_timer);
    }
    free(st->readers);
    free(st->cameras);
    free(st->snap);
    free(st);
}

static int status_start(struct sk_runtime *rt, void **ret_state)
{
    const struct sk_config *cfg = sk_runtime_config(rt);
    struct sk_status *st = calloc(1, sizeof(*st));
    if (!st) {
        return -ENOMEM;
    }
    st->rt = rt;
    st->loop = sk_runtime_loop(rt);
    st->readers = calloc(cfg->n_readers ? cfg->n_readers : 1, sizeof(*st->readers));
    st->cameras = calloc(cfg->n_cameras ? cfg->n_cameras : 1, sizeof(*st->cameras));
    if (!st->readers || !st->cameras) {
        status_stop(st);
        return -ENOMEM;
    }
    st->n_readers = cfg->n_readers;
    for (size_t i = 0; i < cfg->n_readers; i++) {
        snprintf(st->readers[i].name, sizeof(st->readers[i].name), "%s", cfg->readers[i].name);
    }
    st->n_cameras = cfg->n_cameras;
    for (size_t i = 0; i < cfg->n_cameras; i++) {
        snprintf(st->cameras[i].name, sizeof(st->cameras[i].name), "%s", cfg->cameras[i].name);
    }
    int r;
    if ((r = sk_loop_timer_add(st->loop, 1000, 1000, on_events_timer, st, &st->events_timer)) < 0 ||
        (r = sk_loop_timer_add(st->loop, 3600000, 0, on_pending_timer, st, &st->pending_timer)) <
                0) {
        status_stop(st);
        return r;
    }
    sk_loop_timer_set(st->pending_timer, 0, 0);
    if (cfg->control.socket[0]) {
        char path[SK_PATH_MAX * 2], err[700];
        sk_config_resolve_path(cfg, cfg->control.socket, path, sizeof(path));
        struct sk_ctl_server_opts o = {.path = path,
                                       .group = cfg->control.group,
                                       .max_clients = cfg->control.max_clients,
                                       .software_version = sk_status_version()};
        r = sk_ctl_server_new(st->loop, &o, err, sizeof(err), &st->ctl);
        if (r < 0) {
            /* The store runs on without it; diag then refuses to open buses and the ledger
             * behind the daemon's back (it sees the ledger's lock). */
            sk_log(SK_LOG_ERR, "control", NULL, "%s; `storekeeper diag` cannot ask this daemon",
                   err);
        } else {
            static const struct {
                const char *name;
                sk_ctl_handler fn;
            } cmds[] = {{"hello", cmd_hello},      {"status", cmd_status}, {"metrics", cmd_metrics},
                        {"log", cmd_log},          {"ledger", cmd_ledger}, {"reader", cmd_reader},
                        {"snapshot", cmd_snapshot}};

            for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
                sk_ctl_server_add(st->ctl, cmds[i].name, cmds[i].fn, st);
            }
            sk_log(SK_LOG_INFO, "control", NULL, "answering on %s", path);
        }
    }
    if (cfg->http.enabled) {
        char err[300];
        const struct sk_status_source src = {
                .document = document_cb, .snapshot = snapshot_cb, .ctx = st};
        r = status_http_start(st->loop, &cfg->http, &src, err, sizeof(err), &st->http);
        if (r < 0) {
            sk_log(SK_LOG_ERR, "http", NULL, "%s; no status page", err);
            st->http = NULL;
        }
    }
    *ret_state = st;
    return 0;
}

static int status_reload(void *state, const struct sk_config *cfg)
{
    struct sk_status *st = state;
    if (st->http) {
        status_http_set_refresh(st->http, cfg->http.refresh_s);
    }
    return 0;
}

const struct sk_service sk_status_service = {
        .name = "status",
        .start = status_start,
        .stop = status_stop,
        .reload = status_reload,
        .handle = status_handle,
};
