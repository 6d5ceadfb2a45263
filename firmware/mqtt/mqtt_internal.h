/* SPDX-License-Identifier: MIT */
/* Internal to the MQTT module: outbox delivery shared by the link and the service. */
#ifndef SK_MQTT_INTERNAL_H
#define SK_MQTT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "storekeeper/command.h"
#include "storekeeper/config.h"
#include "storekeeper/mqtt.h"
#include "storekeeper/mqtt_payload.h"
#include "storekeeper/obs.h"

/* printf into a short detail field (mqtt_util.c): what does not fit is cut at a word boundary
 * and marked "...", never in the middle of a word. */
void mqtt_detailf(char *buf, size_t size, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* ---- outbox delivery (mqtt_outbox.c), core thread only ------------------------------------ */

struct sk_ledger;
struct sk_mqtt_link;
struct sk_clock;

struct sk_mqtt_outbox_opts {
    struct sk_ledger *ledger;     /* borrowed */
    struct sk_mqtt_link *link;    /* borrowed */
    const struct sk_clock *clock; /* borrowed */
    const char *prefix;           /* "storekeeper/v1/<store>/<device>/" */
    int inflight_max;
    int replay_rate_max;
    int64_t inflight_timeout_us; /* PUBACK wait before a slot counts as lost (>= 30 s) */
    /* One lane in seq order, nothing live ahead of an old backlog: a satellite's observations,
     * which its hub applies in their order. */
    bool ordered;
};

struct sk_mqtt_outbox_stats {
    uint64_t live_sent, backlog_sent; /* publishes, re-sends included */
    uint64_t delivered;               /* PUBACKs that marked a row delivered */
    uint64_t refused;                 /* PUBACKs with a failure reason */
    uint64_t timeouts;                /* slots freed without a PUBACK */
    uint64_t rescans;
    uint64_t mark_errors, unpublishable;
    int64_t last_acked_seq;
    size_t inflight;
    int64_t head_seq, floor;
    bool backlog_done;
};

struct sk_mqtt_outbox;

int mqtt_outbox_new(const struct sk_mqtt_outbox_opts *opts, struct sk_mqtt_outbox **ret);
void mqtt_outbox_free(struct sk_mqtt_outbox *ob);
/* A connection (generation gen) is up: pending rows up to the newest known seq are backlog. */
void mqtt_outbox_connected(struct sk_mqtt_outbox *ob, uint32_t gen);
/* The connection is gone: what was in flight stays pending for the next one. */
void mqtt_outbox_disconnected(struct sk_mqtt_outbox *ob);
/* Publishes what the window, the lanes and the rate allow. Returns messages sent or < 0. */
int mqtt_outbox_fill(struct sk_mqtt_outbox *ob);
/* A PUBACK: 1 when it was an outbox event (marked delivered, or kept when refused), else 0. */
int mqtt_outbox_puback(struct sk_mqtt_outbox *ob, uint32_t gen, int mid, int reason);
/* Frees slots whose PUBACK is overdue and rescans when the window is empty. */
void mqtt_outbox_tick(struct sk_mqtt_outbox *ob);
/* With the oldest pending seq from the ledger: rescans when it lies behind the cursors. */
void mqtt_outbox_audit(struct sk_mqtt_outbox *ob, int64_t first_pending_seq);
/* The newest committed seq (commit listener); and the newest known. */
/* Rows from from_seq on were made pending again (outbox_resend): they are sent once more as
 * backlog, at mqtt.replay_rate_max, behind nothing live. */
void mqtt_outbox_rewind(struct sk_mqtt_outbox *ob, int64_t from_seq);
void mqtt_outbox_note_head(struct sk_mqtt_outbox *ob, int64_t seq);
int64_t mqtt_outbox_head(const struct sk_mqtt_outbox *ob);
void mqtt_outbox_set_rate(struct sk_mqtt_outbox *ob, int replay_rate_max);
void mqtt_outbox_get_stats(const struct sk_mqtt_outbox *ob, struct sk_mqtt_outbox_stats *ret);

/* ---- the store's boards: satellites and their hub (mqtt_satellite.c), core thread ---------- */

struct sk_runtime;
struct mqtt_sat;

struct mqtt_sat_opts {
    struct sk_runtime *rt;         /* borrowed */
    struct sk_mqtt_link *link;     /* borrowed */
    struct sk_ledger *ledger;      /* borrowed */
    struct sk_mqtt_outbox *outbox; /* borrowed */
    const char *ledger_id;
};

/* The store-level topics this board subscribes to (under storekeeper/v1/<store>/): up to max
 * into ret; 0 for a single board. */
size_t mqtt_sat_subscriptions(const struct sk_config *cfg, char (*ret)[SK_TOPIC_MAX], size_t max);
/* 0 with *ret NULL for a single board (a hub without satellites). */
int mqtt_sat_new(const struct mqtt_sat_opts *opts, struct mqtt_sat **ret);
void mqtt_sat_free(struct mqtt_sat *s);
void mqtt_sat_connected(struct mqtt_sat *s, uint32_t gen);
void mqtt_sat_disconnected(struct mqtt_sat *s);
/* The runtime's rewrite hook for SK_OBS_SATELLITE: the hub decodes a satellite's observation in
 * place (0: apply it); pings, pongs and acknowledgements are taken here (1: drop). */
int mqtt_sat_rewrite(struct mqtt_sat *s, struct sk_obs *obs);
/* Every housekeeping round: the hub pings and acknowledges, a satellite checks its hub. */
void mqtt_sat_tick(struct mqtt_sat *s);
/* For the status document: the hub's satellites (an array), or a satellite's hub (an object);
 * NULL for a single board. Owned by the caller. */
cJSON *mqtt_sat_status(struct mqtt_sat *s);

#endif
