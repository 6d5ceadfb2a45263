/* SPDX-License-Identifier: MIT */
/* Internal to the MQTT module: outbox delivery shared by the link and the service. */
#ifndef SK_MQTT_INTERNAL_H
#define SK_MQTT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "storekeeper/command.h"
#include "storekeeper/mqtt_payload.h"

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

#endif
