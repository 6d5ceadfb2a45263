/* SPDX-License-Identifier: MIT */
/* Internal to the MQTT link and service: JSON payload builders shared by both threads. */
#ifndef SK_MQTT_INTERNAL_H
#define SK_MQTT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "storekeeper/command.h"

/* Schema names: the `schema` field of each payload, one JSON Schema file each in docs/schema. */
/* Named like the ledger's events ("storekeeper/v1/<topic suffix>", docs/ledger.md). */
#define SK_SCHEMA_STATUS "storekeeper/v1/status"
#define SK_SCHEMA_HEALTH "storekeeper/v1/health"
#define SK_SCHEMA_REPLY  "storekeeper/v1/reply"
#define SK_SCHEMA_OUTBOX "storekeeper/v1/outbox"
#define SK_SCHEMA_STATS  "storekeeper/v1/stats"
#define SK_SCHEMA_ECHO   "storekeeper/v1/diag/echo"

/* Identity and time of one payload; the envelope every message carries. */
struct sk_mqtt_env {
    const char *schema;
    const char *store_id;
    const char *device_id;
    const char *ledger_id; /* the ledger seq counts in; NULL or "" when unknown */
    int64_t seq;           /* event seq, or the outbox head for other messages */
    int64_t time_us;       /* when the thing described happened (wall clock) */
    int64_t published_us;  /* when handed to the broker (wall clock): publish_time */
};

/* A new object with schema, id (fresh UUID), seq, ledger_id, device_id, store_id, time and
 * publish_time. Returns NULL on allocation failure. Thread-safe (pure). */
cJSON *sk_mqtt_env_new(const struct sk_mqtt_env *env);
/* Adds an RFC 3339 UTC time string member. */
void sk_mqtt_add_time(cJSON *obj, const char *key, int64_t wall_us);
/* Prints unformatted and deletes obj. Returns an owned string or NULL. */
char *sk_mqtt_print_free(cJSON *obj);

/* A reply payload (docs/schema/reply.json). cmd_name may be NULL for unknown commands;
 * err is used when status is SK_CMD_REJECTED. result (may be NULL) becomes owned; with a
 * rejection, an array result becomes error.details and anything else is dropped. */
char *sk_mqtt_reply_json(const struct sk_mqtt_env *env,
                         const char *cmd_name,
                         const char *request_id,
                         enum sk_cmd_status status,
                         const struct sk_cmd_error *err,
                         cJSON *result);

/* The status payload of the last will: state "offline". */
char *sk_mqtt_will_json(const struct sk_mqtt_env *env, uint32_t bd_seq, int64_t started_us);

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

int sk_mqtt_outbox_new(const struct sk_mqtt_outbox_opts *opts, struct sk_mqtt_outbox **ret);
void sk_mqtt_outbox_free(struct sk_mqtt_outbox *ob);
/* A connection (generation gen) is up: pending rows up to the newest known seq are backlog. */
void sk_mqtt_outbox_connected(struct sk_mqtt_outbox *ob, uint32_t gen);
/* The connection is gone: what was in flight stays pending for the next one. */
void sk_mqtt_outbox_disconnected(struct sk_mqtt_outbox *ob);
/* Publishes what the window, the lanes and the rate allow. Returns messages sent or < 0. */
int sk_mqtt_outbox_fill(struct sk_mqtt_outbox *ob);
/* A PUBACK: 1 when it was an outbox event (marked delivered, or kept when refused), else 0. */
int sk_mqtt_outbox_puback(struct sk_mqtt_outbox *ob, uint32_t gen, int mid, int reason);
/* Frees slots whose PUBACK is overdue and rescans when the window is empty. */
void sk_mqtt_outbox_tick(struct sk_mqtt_outbox *ob);
/* With the oldest pending seq from the ledger: rescans when it lies behind the cursors. */
void sk_mqtt_outbox_audit(struct sk_mqtt_outbox *ob, int64_t first_pending_seq);
/* The newest committed seq (commit listener); and the newest known. */
void sk_mqtt_outbox_note_head(struct sk_mqtt_outbox *ob, int64_t seq);
int64_t sk_mqtt_outbox_head(const struct sk_mqtt_outbox *ob);
void sk_mqtt_outbox_set_rate(struct sk_mqtt_outbox *ob, int replay_rate_max);
void sk_mqtt_outbox_get_stats(const struct sk_mqtt_outbox *ob, struct sk_mqtt_outbox_stats *ret);

#endif
