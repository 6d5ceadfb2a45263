/* SPDX-License-Identifier: MIT */
/* MQTT payloads: the envelope every message carries and the builders of the link's own
 * messages (replies, last will). Pure functions, safe on any thread. */
#ifndef STOREKEEPER_MQTT_PAYLOAD_H
#define STOREKEEPER_MQTT_PAYLOAD_H

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
 * rejection, an array result becomes error.details and anything else is dropped. repeat_of_us
 * (0: not one) marks the reply to a request applied before: "repeat": true, and when the
 * original outcome was recorded ("first_reply"). */
char *sk_mqtt_reply_json(const struct sk_mqtt_env *env,
                         const char *cmd_name,
                         const char *request_id,
                         enum sk_cmd_status status,
                         const struct sk_cmd_error *err,
                         cJSON *result,
                         int64_t repeat_of_us);

/* The status payload of the last will: state "offline". */
char *sk_mqtt_will_json(const struct sk_mqtt_env *env, uint32_t bd_seq, int64_t started_us);

#endif
