/* SPDX-License-Identifier: MIT */
/* The MQTT link: one broker connection with its own thread, and the helpers around it. */
#ifndef STOREKEEPER_MQTT_H
#define STOREKEEPER_MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storekeeper/config.h"
#include "storekeeper/credentials.h"
#include "storekeeper/queue.h"

struct cJSON;

/*
 * The link owns one libmosquitto client and one thread ("mqtt") that connects, reconnects
 * with back-off and jitter, and runs the network loop. The thread never touches domain state:
 * everything it learns (connected, disconnected, PUBACK, commands, echoes) becomes an
 * observation on the core queue (SK_OBS_MQTT_LINK, SK_OBS_MQTT_COMMAND). The core thread
 * publishes through sk_mqtt_link_publish(), naming the connection generation it believes is
 * up, so a message can never be sent on (or its PUBACK credited to) a later connection.
 *
 * The service in mqtt_service.c builds the protocol on top (outbox delivery, status, health,
 * commands); `storekeeper diag mqtt` uses the same link for its one-shot test.
 */

#define SK_TOPIC_MAX   256 /* bytes of a topic we build or accept, with NUL */
#define SK_MQTT_PREFIX "storekeeper/v1/"

/* ---- topics and payload helpers ----------------------------------------------------------- */

/* Writes "storekeeper/v1/<store>/<device>/" + suffix. Returns length, or -ENAMETOOLONG. */
int sk_mqtt_topic(const struct sk_config *cfg, const char *suffix, char *buf, size_t size);
/* The client id: mqtt.client_id, or "<store_id>-<device_id>"; plus "-<suffix>" if given. */
void sk_mqtt_client_id(const struct sk_config *cfg, const char *suffix, char *buf, size_t size);
/* A random UUID (version 4), 36 characters plus NUL. */
void sk_mqtt_uuid(char out[37]);

/*
 * Adds the publish time to an outbox payload, which must be a JSON object (docs/ledger.md
 * reserves the field): `{...,"publish_time":"2026-...Z"}`. Returns an owned string (free())
 * and its length, or -EINVAL when the payload is not an object, -ENOMEM.
 */
int sk_mqtt_stamp(const char *payload,
                  size_t len,
                  int64_t published_wall_us,
                  char **ret_payload,
                  size_t *ret_len);

/* ---- the link ---------------------------------------------------------------------------- */

struct sk_mqtt_link;

struct sk_mqtt_link_opts {
    const struct sk_config *cfg;      /* borrowed during sk_mqtt_link_new only: values are copied */
    struct sk_queue *queue;           /* borrowed; must outlive the link */
    const char *client_suffix;        /* appended to the client id (diag); NULL for none */
    bool once;                        /* one attempt, no reconnect (diag) */
    bool no_will;                     /* no last will (diag) */
    int64_t started_wall_us;          /* process start, in status payloads */
    const char *ledger_id;            /* copied; in the will's envelope; NULL for none */
    const char *const *subscriptions; /* topic suffixes to subscribe to at QoS 1, NULL-ended */
    /* Topics under storekeeper/v1/<store>/ (other boards of the store), NULL-ended: messages on
     * .../<device>/sat/<name>[/<identity>] arrive as SK_OBS_SATELLITE observations. */
    const char *const *store_subscriptions;
};

/* Copies what it needs from opts. Does not connect yet. */
int sk_mqtt_link_new(const struct sk_mqtt_link_opts *opts, struct sk_mqtt_link **ret_link);
/* Starts the thread (named "mqtt"); it connects at once. */
int sk_mqtt_link_start(struct sk_mqtt_link *link);
/*
 * Waits at most timeout_ms for the PUBACKs of messages already published, disconnects cleanly
 * (MQTT DISCONNECT, so the broker drops the last will), and joins the thread. Call twice: fine.
 */
void sk_mqtt_link_stop(struct sk_mqtt_link *link, int timeout_ms);
/* Stops if needed, then frees. Accepts NULL. */
void sk_mqtt_link_free(struct sk_mqtt_link *link);

/* Options of one publish beyond topic and payload. Every message is sent at QoS 1. */
struct sk_mqtt_pub {
    int qos; /* ignored: always 1 */
    bool retain;
    const void *correlation; /* MQTT 5 correlation data (replies); NULL for none */
    size_t correlation_len;
    uint32_t expiry_s; /* MQTT 5 message expiry interval; 0 for none */
};

/*
 * Publishes on connection `generation` (from SK_MQTT_CONNECTED). Thread-safe; called from the
 * core thread. Returns 0 with the message id in *ret_mid (may be NULL), -ENOTCONN when that
 * connection is not (or no longer) up, -E2BIG, or SK_EMQTT.
 */
int sk_mqtt_link_publish(struct sk_mqtt_link *link,
                         uint32_t generation,
                         const char *topic,
                         const void *payload,
                         size_t len,
                         const struct sk_mqtt_pub *pub,
                         int *ret_mid);

/* The newest event seq committed, for the `seq` of the will message. Thread-safe. */
void sk_mqtt_link_set_seq(struct sk_mqtt_link *link, int64_t seq);
/* mqtt.command_max_bytes after a reload. Thread-safe. */
void sk_mqtt_link_set_command_max(struct sk_mqtt_link *link, int bytes);
/* mqtt.command_rate_max after a reload. Thread-safe. */
void sk_mqtt_link_set_command_rate(struct sk_mqtt_link *link, int per_s);

struct sk_mqtt_link_info {
    bool connected;
    uint32_t generation;
    int protocol;         /* 5 or 4 (3.1.1); 0 before the first connection */
    uint32_t attempts;    /* connection attempts since start */
    uint32_t connects;    /* successful connections since start */
    char tls_version[16]; /* "TLSv1.3", empty without TLS */
    char tls_cipher[64];
    char peer_subject[128]; /* broker certificate subject */
    char peer_issuer[128];
    char peer_not_after[32];
};

/* A snapshot; thread-safe. TLS fields are filled while connected with TLS. */
void sk_mqtt_link_get_info(struct sk_mqtt_link *link, struct sk_mqtt_link_info *ret_info);

/* Names a libmosquitto connect or disconnect code for people ("not authorized"). */
const char *sk_mqtt_reason_text(int protocol, int code);

/* ---- the service ------------------------------------------------------------------------- */

/* The runtime service (firmware/mqtt/mqtt_service.c): status and last will, health topics,
 * commands, outbox delivery. Defined in mqtt_service.c; see runtime.h for struct sk_service. */
struct sk_service;
extern const struct sk_service sk_mqtt_service;

/*
 * The store's other boards as the running MQTT service (sk_runtime_service_state(rt, "mqtt"))
 * sees them, for the status document: on a hub an array with each satellite's link, lag, clock
 * offset and sources; on a satellite an object about its hub; NULL on a single board. Core
 * thread only; owned by the caller.
 */
struct cJSON *sk_mqtt_boards_status(void *mqtt_state);

#endif
