/* SPDX-License-Identifier: MIT */
/* The MQTT link: libmosquitto client, connection thread, back-off, and core-thread publishing. */
#include <errno.h>
#include <fcntl.h>
#include <mqtt_protocol.h>
#include <netdb.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>

#include <mosquitto.h>

#include "mqtt_internal.h"
#include "storekeeper/bucket.h"
#include "storekeeper/clock.h"
#include "storekeeper/error.h"
#include "storekeeper/mqtt.h"
#include "storekeeper/notify.h"
#include "storekeeper/obs.h"

/*
 * DESIGN
 * One thread per link runs the connection: it resolves and probes the broker, creates a fresh
 * libmosquitto client for every attempt, connects, and runs mosquitto_loop() until the
 * connection ends; then it waits out a back-off with jitter and starts again. We do not use
 * mosquitto_loop_start()/loop_forever(): their reconnect delay has whole-second steps and no
 * jitter, loop_forever gives up for good on an MQTT 5 "not authorized" CONNACK (it treats
 * MOSQ_ERR_PROTOCOL as fatal), and loop_stop(force) cancels the thread. A fresh client per
 * attempt also means libmosquitto never re-sends messages from an earlier connection on its
 * own: the outbox is the only source of retries, so every PUBACK can be credited exactly.
 *
 * Each attempt first opens (and closes) a plain TCP connection of its own with a timeout and
 * the stop eventfd in the poll set. libmosquitto's connect is blocking; the probe makes sure
 * it only starts against an address that answers, so a black-holed broker can never hold
 * the thread (and a shutdown) for the kernel's two-minute SYN timeout, and it tells refused,
 * unreachable, unresolvable and silent brokers apart for the log and `diag mqtt`.
 *
 * Everything the thread learns becomes an observation on the core queue; it never logs and
 * never touches domain state. `generation` numbers the connections: the core publishes on the
 * generation it was told is up, and PUBACKs carry theirs, so a publish that races a reconnect
 * is refused instead of being credited to the wrong message id.
 */

#define LOOP_TIMEOUT_MS   500
#define CORRELATION_MAX   256
#define SEND_MAX_HEADROOM 16       /* status, health and replies next to the event window */
#define STABLE_AFTER_US   10000000 /* a connection this old resets the back-off */

enum attempt_state {
    AT_IDLE,       /* no client */
    AT_CONNECTING, /* CONNECT sent, waiting for CONNACK */
    AT_UP,         /* CONNACK success */
};

struct sk_mqtt_link {
    /* Copied configuration: immutable after sk_mqtt_link_new. */
    char host[SK_HOST_MAX];
    int port;
    int protocol_cfg; /* 0 auto, 5, 311 */
    int keepalive_s;
    bool tls, tls_insecure;
    char ca_file[SK_PATH_MAX * 2], cert_file[SK_PATH_MAX * 2], key_file[SK_PATH_MAX * 2];
    char cred_file[SK_PATH_MAX * 2];
    char client_id[128];
    char store_id[SK_NAME_MAX], device_id[SK_NAME_MAX];
    char ledger_id[40];
    char prefix[SK_TOPIC_MAX];     /* storekeeper/v1/<store>/<device>/ */
    char cmd_prefix[SK_TOPIC_MAX]; /* prefix + "cmd/" */
    char echo_prefix[SK_TOPIC_MAX];
    char store_prefix[SK_TOPIC_MAX]; /* storekeeper/v1/<store>/ */
    char status_topic[SK_TOPIC_MAX];
    char **subs;
    size_t n_subs;
    int inflight_max;
    int reconnect_min_ms, reconnect_max_ms;
    int session_expiry_s;
    int connect_timeout_s;
    int64_t watchdog_stall_us;
    bool once, no_will;
    int64_t started_wall_us;
    struct sk_queue *queue;

    atomic_int command_max;
    atomic_int command_rate; /* per second; the bucket holds twice that */
    atomic_llong seq;
    atomic_bool stop;
    atomic_int stop_timeout_ms;

    int wake_fd;
    pthread_t thread;
    bool thread_started;
    struct sk_heartbeat *hb;

    /* Shared with the core thread under lock. */
    pthread_mutex_t lock;
    struct mosquitto *mosq;
    uint32_t gen;
    bool active; /* CONNACK success and not disconnected */
    int protocol;
    int inflight; /* QoS 1 publishes of this connection without PUBACK yet */
    struct sk_mqtt_link_info info;
    mosquitto_property *event_props; /* content type + payload format, reused per publish */

    /* Thread only. */
    struct sk_bucket cmd_bucket; /* mqtt.command_rate_max */
    enum attempt_state state;
    bool reported;  /* this attempt's failure or end was reported */
    bool stop_sent; /* DISCONNECT queued for the stop */
    int64_t attempt_mono_us;
    int64_t up_mono_us;
    int64_t next_attempt_mono_us;
    int64_t stop_deadline_mono_us;
    int backoff_n;
    int proto_next; /* MQTT_PROTOCOL_V5 or MQTT_PROTOCOL_V311 */
    int attempt_proto;
    bool once_retry;            /* a one-shot link may make the fallback attempt */
    char last_log[SK_TEXT_MAX]; /* last libmosquitto error line of this attempt */
    uint64_t rng;
};

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

static void lib_init(void)
{
    mosquitto_lib_init();
}

/* ---- observations ------------------------------------------------------------------------- */

/* An empty observation of this type, stamped now on both clocks. */
static void obs_now(struct sk_obs *o, int type)
{
    memset(o, 0, sizeof(*o));
    o->type = (uint16_t)type;
    o->mono_us = sk_now_mono_us();
    o->wall_us = sk_now_wall_us();
}

static void push_link(struct sk_mqtt_link *l,
                      int event,
                      int mid,
                      int reason,
                      uint8_t flags,
                      int32_t retry_ms,
                      const char *detail)
{
    struct sk_obs o;
    obs_now(&o, SK_OBS_MQTT_LINK);
    o.u.mqtt.event = (uint8_t)event;
    o.u.mqtt.mid = mid;
    o.u.mqtt.reason_code = reason;
    o.u.mqtt.generation = l->gen;
    o.u.mqtt.protocol = (uint8_t)(l->attempt_proto == MQTT_PROTOCOL_V5 ? 5 : 4);
    o.u.mqtt.flags = flags;
    o.u.mqtt.retry_ms = retry_ms;
    snprintf(o.u.mqtt.detail, sizeof(o.u.mqtt.detail), "%s", detail ? detail : "");
    /* Link events are small and rare next to the queue's capacity; if even they do not fit,
     * the core is far behind and the outbox re-sends what an unseen PUBACK acknowledged. */
    sk_queue_push(l->queue, &o, SK_QUEUE_ANY, 0);
}

/* ---- back-off ----------------------------------------------------------------------------- */

static uint64_t rnd(struct sk_mqtt_link *l)
{
    /* xorshift64*: jitter only needs to spread devices, not to be unpredictable */
    l->rng ^= l->rng >> 12;
    l->rng ^= l->rng << 25;
    l->rng ^= l->rng >> 27;
    return l->rng * 2685821657736338717ULL;
}

/* Schedules the next attempt and returns its delay: min * 2^n capped at max, then "equal
 * jitter" (half fixed, half random) so a fleet that lost its broker does not reconnect in
 * lock step, while every device still waits at least half the nominal delay. */
static int32_t schedule(struct sk_mqtt_link *l, bool immediate)
{
    if (atomic_load(&l->stop)) {
        return -1;
    }
    int64_t now = sk_now_mono_us();
    if (immediate) {
        /* The protocol fallback: one more attempt even for a one-shot link. */
        l->once_retry = l->once;
        l->next_attempt_mono_us = now;
        return 0;
    }
    if (l->once) {
        return -1;
    }
    int64_t d = l->reconnect_min_ms;
    for (int i = 0; i < l->backoff_n && d < l->reconnect_max_ms; i++) {
        d *= 2;
    }
    if (d > l->reconnect_max_ms) {
        d = l->reconnect_max_ms;
    }
    if (l->backoff_n < 30) {
        l->backoff_n++;
    }
    int64_t half = d / 2;
    int64_t delay = half + (int64_t)(rnd(l) % (uint64_t)(d - half + 1));
    l->next_attempt_mono_us = now + delay * 1000;
    return (int32_t)delay;
}

/* ---- libmosquitto callbacks (run on the link thread inside mosquitto_loop) ------------------ */

static bool auth_code(int proto, int rc)
{
    if (proto == MQTT_PROTOCOL_V5) {
        return rc == MQTT_RC_BAD_USERNAME_OR_PASSWORD || rc == MQTT_RC_NOT_AUTHORIZED;
    }
    return rc == 4 || rc == 5;
}

static void capture_tls(struct sk_mqtt_link *l, struct sk_mqtt_link_info *info)
{
    SSL *ssl = mosquitto_ssl_get(l->mosq);
    if (!ssl) {
        return;
    }
    snprintf(info->tls_version, sizeof(info->tls_version), "%s", SSL_get_version(ssl));
    const char *cipher = SSL_get_cipher_name(ssl);
    snprintf(info->tls_cipher, sizeof(info->tls_cipher), "%s", cipher ? cipher : "");
    X509 *peer = SSL_get1_peer_certificate(ssl);
    if (peer) {
        X509_NAME_oneline(X509_get_subject_name(peer), info->peer_subject,
                          (int)sizeof(info->peer_subject));
        X509_NAME_oneline(X509_get_issuer_name(peer), info->peer_issuer,
                          (int)sizeof(info->peer_issuer));
        struct tm tm;
        if (ASN1_TIME_to_tm(X509_get0_notAfter(peer), &tm) == 1) {
            strftime(info->peer_not_after, sizeof(info->peer_not_after), "%Y-%m-%dT%H:%M:%SZ", &tm);
        }
        X509_free(peer);
    }
}

static void
on_connect(struct mosquitto *mosq, void *obj, int rc, int flags, const mosquitto_property *props)
{
    struct sk_mqtt_link *l = obj;
    int proto = l->attempt_proto;
    if (rc != 0) {
        bool unsupported =
                (proto == MQTT_PROTOCOL_V5 && rc == MQTT_RC_UNSUPPORTED_PROTOCOL_VERSION) ||
                (proto == MQTT_PROTOCOL_V311 && rc == 1);
        bool fallback = unsupported && l->protocol_cfg == 0;
        if (fallback) {
            l->proto_next = proto == MQTT_PROTOCOL_V5 ? MQTT_PROTOCOL_V311 : MQTT_PROTOCOL_V5;
        }
        char detail[SK_TEXT_MAX];
        mqtt_detailf(
                detail, sizeof(detail), "broker refused the connection: %s%s",
                sk_mqtt_reason_text(proto == MQTT_PROTOCOL_V5 ? 5 : 4, rc),
                fallback ? (proto == MQTT_PROTOCOL_V5 ? "; trying MQTT 3.1.1" : "; trying MQTT 5")
                         : "");
        /* A fallback is not a failure of the broker: try the other version at once. */
        int32_t retry = schedule(l, fallback && proto == MQTT_PROTOCOL_V5);
        push_link(l, SK_MQTT_CONNECT_FAILED, 0, rc, auth_code(proto, rc) ? SK_MQTT_F_AUTH : 0,
                  retry, detail);
        l->reported = true;
        return;
    }
    struct sk_mqtt_link_info tls_info;
    memset(&tls_info, 0, sizeof(tls_info));
    if (l->tls) {
        capture_tls(l, &tls_info);
    }
    pthread_mutex_lock(&l->lock);
    l->active = true;
    l->protocol = proto == MQTT_PROTOCOL_V5 ? 5 : 4;
    l->info.connected = true;
    l->info.generation = l->gen;
    l->info.protocol = l->protocol;
    l->info.connects++;
    memcpy(l->info.tls_version, tls_info.tls_version, sizeof(tls_info.tls_version));
    memcpy(l->info.tls_cipher, tls_info.tls_cipher, sizeof(tls_info.tls_cipher));
    memcpy(l->info.peer_subject, tls_info.peer_subject, sizeof(tls_info.peer_subject));
    memcpy(l->info.peer_issuer, tls_info.peer_issuer, sizeof(tls_info.peer_issuer));
    memcpy(l->info.peer_not_after, tls_info.peer_not_after, sizeof(tls_info.peer_not_after));
    pthread_mutex_unlock(&l->lock);
    l->state = AT_UP;
    l->up_mono_us = sk_now_mono_us();
    /* The protocol that worked is the one to start with next time. */
    l->proto_next = proto;
    for (size_t i = 0; i < l->n_subs; i++) {
        mosquitto_subscribe_v5(mosq, NULL, l->subs[i], 1, 0, NULL);
    }
    uint32_t broker_max = 0;
    if (proto == MQTT_PROTOCOL_V5) {
        mosquitto_property_read_int32(props, MQTT_PROP_MAXIMUM_PACKET_SIZE, &broker_max, false);
    }
    uint8_t f =
            (uint8_t)((flags & 1 ? SK_MQTT_F_SESSION_PRESENT : 0) | (l->tls ? SK_MQTT_F_TLS : 0) |
                      (proto == MQTT_PROTOCOL_V5 && broker_max == 0 ? SK_MQTT_F_NO_PACKET_LIMIT
                                                                    : 0));
    push_link(l, SK_MQTT_CONNECTED, 0, 0, f, -1, tls_info.tls_version);
}

static void
on_disconnect(struct mosquitto *mosq, void *obj, int rc, const mosquitto_property *props)
{
    (void)mosq;
    (void)props;
    struct sk_mqtt_link *l = obj;
    pthread_mutex_lock(&l->lock);
    l->active = false;
    l->info.connected = false;
    pthread_mutex_unlock(&l->lock);
    if (l->reported) {
        return;
    }
    l->reported = true;
    bool stopping = atomic_load(&l->stop);
    if (l->state == AT_UP) {
        if (sk_now_mono_us() - l->up_mono_us >= STABLE_AFTER_US) {
            l->backoff_n = 0;
        }
        char detail[SK_TEXT_MAX];
        if (rc == 0 || stopping) {
            snprintf(detail, sizeof(detail), "disconnected");
        } else {
            mqtt_detailf(detail, sizeof(detail), "connection lost: %s%s%s", mosquitto_strerror(rc),
                         l->last_log[0] ? "; " : "", l->last_log);
        }
        push_link(l, SK_MQTT_DISCONNECTED, 0, rc, 0, stopping ? -1 : schedule(l, false), detail);
        return;
    }
    /* The connection ended before a CONNACK: TLS failures end up here, and brokers that close
     * the connection on a CONNECT version they do not know. */
    char detail[SK_TEXT_MAX];
    uint8_t flags = 0;
    if (strstr(l->last_log, "host name verification")) {
        mqtt_detailf(detail, sizeof(detail), "TLS: the broker's certificate is not for host %s",
                     l->host);
        flags = SK_MQTT_F_TLS_FAILED;
    } else if (strstr(l->last_log, "alert certificate required") ||
               strstr(l->last_log, "alert bad certificate") ||
               strstr(l->last_log, "alert unknown ca")) {
        mqtt_detailf(detail, sizeof(detail),
                     "TLS: the broker refused our client certificate (none, or not trusted)");
        flags = SK_MQTT_F_TLS_FAILED;
    } else if (strstr(l->last_log, "certificate verify failed")) {
        snprintf(detail, sizeof(detail),
                 "TLS: the broker's certificate is not trusted (not signed by mqtt.ca_file, or "
                 "expired)");
        flags = SK_MQTT_F_TLS_FAILED;
    } else if (l->tls && (strstr(l->last_log, "OpenSSL") || rc == MOSQ_ERR_TLS)) {
        mqtt_detailf(detail, sizeof(detail), "TLS handshake failed: %s", l->last_log);
        flags = SK_MQTT_F_TLS_FAILED;
    } else {
        mqtt_detailf(detail, sizeof(detail), "broker closed the connection before CONNACK (%s)",
                     mosquitto_strerror(rc));
        if (l->protocol_cfg == 0) {
            l->proto_next =
                    l->attempt_proto == MQTT_PROTOCOL_V5 ? MQTT_PROTOCOL_V311 : MQTT_PROTOCOL_V5;
        }
    }
    push_link(l, SK_MQTT_CONNECT_FAILED, 0, rc, flags, schedule(l, false), detail);
}

/* Every publish of the link is QoS 1, so each call is a PUBACK. */
static void
on_publish(struct mosquitto *mosq, void *obj, int mid, int reason, const mosquitto_property *props)
{
    (void)mosq;
    (void)props;
    struct sk_mqtt_link *l = obj;
    pthread_mutex_lock(&l->lock);
    if (l->inflight > 0) {
        l->inflight--;
    }
    pthread_mutex_unlock(&l->lock);
    push_link(l, SK_MQTT_PUBACK, mid, reason, 0, -1, NULL);
}

static void on_subscribe(struct mosquitto *mosq,
                         void *obj,
                         int mid,
                         int qos_count,
                         const int *granted,
                         const mosquitto_property *props)
{
    (void)mosq;
    (void)props;
    push_link(obj, SK_MQTT_SUBACK, mid, qos_count > 0 ? granted[0] : 0x80, 0, -1, NULL);
}

/* Takes one command from the bucket (refilled at mqtt.command_rate_max per second, holding
 * twice that). False when empty: the sender is going faster than the store will parse. */
static bool command_token(struct sk_mqtt_link *l)
{
    int rate = atomic_load(&l->command_rate);
    return sk_bucket_take(&l->cmd_bucket, sk_now_mono_us(), rate, 1e6, 2.0 * rate);
}

/* A busy reply from this thread, without the core: its queue is full, or the sender exceeds
 * the command rate. One reply per command still holds; parsing is what is saved. */
static void reply_busy(struct sk_mqtt_link *l,
                       struct mosquitto *mosq,
                       struct sk_obs_command *c,
                       const char *message)
{
    char topic[SK_TOPIC_MAX];
    if (c->response_topic) {
        snprintf(topic, sizeof(topic), "%s", c->response_topic);
    } else if (c->flags & SK_CMD_OBS_FROM_TOPIC) {
        mqtt_detailf(topic, sizeof(topic), "%sreply/%s/%s", l->prefix,
                     c->flags & SK_CMD_OBS_BAD_NAME ? "unknown" : c->name, c->identity);
    } else {
        mqtt_detailf(topic, sizeof(topic), "%sreply/%s", l->prefix,
                     c->flags & SK_CMD_OBS_BAD_NAME ? "unknown" : c->name);
    }
    struct sk_cmd_error err = {.code = SK_CMD_ERR_BUSY};
    snprintf(err.message, sizeof(err.message), "%s", message);
    int64_t now = sk_now_wall_us();
    struct sk_mqtt_env env = {SK_SCHEMA_REPLY,      l->store_id, l->device_id, l->ledger_id,
                              atomic_load(&l->seq), now,         now};
    char *reply = sk_mqtt_reply_json(&env, NULL, NULL, SK_CMD_REJECTED, &err, NULL, 0);
    mosquitto_property *p = NULL;
    if (c->correlation && l->attempt_proto == MQTT_PROTOCOL_V5) {
        mosquitto_property_add_binary(&p, MQTT_PROP_CORRELATION_DATA, c->correlation,
                                      (uint16_t)c->correlation_len);
    }
    if (reply) {
        mosquitto_publish_v5(mosq, NULL, topic, (int)strlen(reply), reply, 1, false, p);
    }
    mosquitto_property_free_all(&p);
    free(reply);
}

/*
 * A response topic names where the device publishes its reply, so whoever may send a command
 * chooses a topic the device writes to. Inside the device's own tree only reply/ is allowed:
 * a reply published as event/checkout or status would look like the device's own report.
 * Elsewhere the broker's ACL for the device decides (docs/security.md).
 */
static bool response_topic_ok(const struct sk_mqtt_link *l, const char *rt)
{
    if (strlen(rt) >= SK_TOPIC_MAX || mosquitto_pub_topic_check(rt) != MOSQ_ERR_SUCCESS ||
        rt[0] == '$') {
        return false;
    }
    size_t n = strlen(l->prefix);
    if (strncmp(rt, l->prefix, n) == 0) {
        return strncmp(rt + n, "reply/", 6) == 0;
    }
    return true;
}

/*
 * A message between the store's boards: storekeeper/v1/<store>/<device>/sat/<name>[/<id>], on
 * the store-level subscriptions only (a hub's satellites, a satellite's hub). It goes to the
 * core thread as it came; the mqtt service reads it there. Larger than mqtt.command_max_bytes,
 * or with a malformed topic: dropped (a satellite sends it again when its hub does not record
 * it).
 */
static void on_board_message(struct sk_mqtt_link *l, const struct mosquitto_message *msg)
{
    size_t sp = strlen(l->store_prefix);
    if (strncmp(msg->topic, l->store_prefix, sp) != 0) {
        return;
    }
    const char *dev = msg->topic + sp;
    const char *slash = strchr(dev, '/');
    if (!slash || slash == dev || (size_t)(slash - dev) >= SK_NAME_MAX ||
        strncmp(slash, "/sat/", 5) != 0) {
        return;
    }
    const char *name = slash + 5;
    const char *rest = strchr(name, '/');
    size_t name_len = rest ? (size_t)(rest - name) : strlen(name);
    size_t len = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0;
    if (name_len == 0 || name_len >= SK_NAME_MAX ||
        (rest && (strchr(rest + 1, '/') || strlen(rest + 1) >= SK_NAME_MAX)) || len == 0 ||
        len > (size_t)atomic_load(&l->command_max)) {
        return;
    }
    struct sk_obs o;
    obs_now(&o, SK_OBS_SATELLITE);
    snprintf(o.source, sizeof(o.source), "%.*s", (int)(slash - dev), dev);
    struct sk_obs_command *c = &o.u.command;
    c->generation = l->gen;
    snprintf(c->name, sizeof(c->name), "%.*s", (int)name_len, name);
    if (rest) {
        snprintf(c->identity, sizeof(c->identity), "%s", rest + 1);
    }
    c->payload = malloc(len + 1);
    if (!c->payload) {
        return;
    }
    memcpy(c->payload, msg->payload, len);
    c->payload[len] = '\0';
    c->payload_len = len;
    if (sk_queue_push(l->queue, &o, SK_QUEUE_ANY, 0) < 0) {
        sk_obs_release(&o); /* the core is far behind: the satellite sends it again */
    }
}

static void on_message(struct mosquitto *mosq,
                       void *obj,
                       const struct mosquitto_message *msg,
                       const mosquitto_property *props)
{
    (void)mosq;
    struct sk_mqtt_link *l = obj;
    size_t cmd_len = strlen(l->cmd_prefix);
    if (strncmp(msg->topic, l->echo_prefix, strlen(l->echo_prefix)) == 0) {
        /* The token is the last topic level; the payload is the usual JSON envelope. */
        push_link(l, SK_MQTT_ECHO, msg->mid, 0, 0, -1, msg->topic + strlen(l->echo_prefix));
        return;
    }
    if (strncmp(msg->topic, l->cmd_prefix, cmd_len) != 0) {
        on_board_message(l, msg);
        return;
    }
    struct sk_obs o;
    obs_now(&o, SK_OBS_MQTT_COMMAND);
    struct sk_obs_command *c = &o.u.command;
    c->generation = l->gen;
    /* cmd/<name> or cmd/<name>/<identity>; the broker's ACL decides who may publish where. */
    const char *name = msg->topic + cmd_len;
    const char *slash = strchr(name, '/');
    size_t name_len = slash ? (size_t)(slash - name) : strlen(name);
    if (name_len == 0 || name_len >= sizeof(c->name)) {
        c->flags |= SK_CMD_OBS_BAD_NAME;
    }
    snprintf(c->name, sizeof(c->name), "%.*s", (int)name_len, name);
    if (slash) {
        const char *id = slash + 1;
        if (!id[0] || strchr(id, '/') || strlen(id) >= sizeof(c->identity)) {
            c->flags |= SK_CMD_OBS_BAD_IDENTITY; /* answered invalid, naming the identity */
            /* its start, for the refusal (never taken for a sender) */
            snprintf(c->identity, sizeof(c->identity), "%.20s", id);
        } else {
            snprintf(c->identity, sizeof(c->identity), "%s", id);
            c->flags |= SK_CMD_OBS_FROM_TOPIC;
        }
    }
    size_t len = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0;
    c->payload_len = len;
    bool limited = !command_token(l);
    if (limited) {
        c->flags |= SK_CMD_OBS_RATE_LIMITED;
    } else if (len > (size_t)atomic_load(&l->command_max)) {
        c->flags |= SK_CMD_OBS_TOO_LARGE;
    } else if (len > 0) {
        c->payload = malloc(len + 1);
        if (!c->payload) {
            c->flags |= SK_CMD_OBS_TOO_LARGE;
        } else {
            memcpy(c->payload, msg->payload, len);
            c->payload[len] = '\0';
        }
    }
    char *rt = NULL;
    if (mosquitto_property_read_string(props, MQTT_PROP_RESPONSE_TOPIC, &rt, false)) {
        if (response_topic_ok(l, rt)) {
            c->response_topic = rt;
        } else {
            c->flags |= SK_CMD_OBS_BAD_RESPONSE;
            free(rt);
        }
    }
    void *corr = NULL;
    uint16_t corr_len = 0;
    if (mosquitto_property_read_binary(props, MQTT_PROP_CORRELATION_DATA, &corr, &corr_len,
                                       false)) {
        if (corr_len <= CORRELATION_MAX) {
            c->correlation = corr;
            c->correlation_len = corr_len;
        } else {
            c->flags |= SK_CMD_OBS_BAD_RESPONSE;
            free(corr);
        }
    }
    if (limited) {
        char m[SK_TEXT_MAX];
        snprintf(m, sizeof(m),
                 "more than %d commands per second (mqtt.command_rate_max); send it again later",
                 atomic_load(&l->command_rate));
        reply_busy(l, mosq, c, m);
        sk_obs_release(&o);
        return;
    }
    if (sk_queue_push(l->queue, &o, SK_QUEUE_ANY, 0) < 0) {
        /* The core is far behind. Answer here, so the sender knows to try again later. */
        reply_busy(l, mosq, c, "the runtime's queue is full; send the command again later");
        sk_obs_release(&o);
    }
}

static void on_log(struct mosquitto *mosq, void *obj, int level, const char *line)
{
    (void)mosq;
    struct sk_mqtt_link *l = obj;
    if (level & (MOSQ_LOG_ERR | MOSQ_LOG_WARNING)) {
        /* Keep the first of the specific lines: OpenSSL's generic line follows it. */
        if (!l->last_log[0] || strstr(line, "verification") || !strstr(l->last_log, "verif")) {
            snprintf(l->last_log, sizeof(l->last_log), "%s", line);
        }
    }
}

/* ---- connecting -------------------------------------------------------------------------- */

/* Waits up to timeout_ms for the wake eventfd. */
static void wait_wake(struct sk_mqtt_link *l, int timeout_ms)
{
    struct pollfd p = {.fd = l->wake_fd, .events = POLLIN};
    if (poll(&p, 1, timeout_ms) > 0) {
        uint64_t v;
        ssize_t n = read(l->wake_fd, &v, sizeof(v));
        (void)n;
    }
}

/* A plain TCP connection with a timeout, closed again at once. 0, or a failure in words with
 * flags (SK_MQTT_F_UNREACHABLE). Returns -ECANCELED when the link is stopping. */
static int probe(struct sk_mqtt_link *l, char *detail, size_t size)
{
    char port[8];
    snprintf(port, sizeof(port), "%d", l->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int g = getaddrinfo(l->host, port, &hints, &res);
    if (g != 0) {
        mqtt_detailf(detail, size, "cannot resolve the host name: %s", gai_strerror(g));
        return -EHOSTUNREACH;
    }
    int err = ETIMEDOUT;
    int64_t deadline = sk_now_mono_us() + (int64_t)l->connect_timeout_s * 1000000;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            err = errno;
            continue;
        }
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
            close(fd);
            freeaddrinfo(res);
            return 0;
        }
        if (errno != EINPROGRESS) {
            err = errno;
            close(fd);
            continue;
        }
        for (;;) {
            int64_t left = (deadline - sk_now_mono_us()) / 1000;
            if (left <= 0) {
                err = ETIMEDOUT;
                break;
            }
            struct pollfd p[2] = {{.fd = fd, .events = POLLOUT},
                                  {.fd = l->wake_fd, .events = POLLIN}};
            int n = poll(p, 2, left > 1000 ? 1000 : (int)left);
            sk_heartbeat_beat(l->hb, sk_now_mono_us());
            if (atomic_load(&l->stop)) {
                close(fd);
                freeaddrinfo(res);
                return -ECANCELED;
            }
            if (n > 0 && p[0].revents) {
                socklen_t el = sizeof(err);
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0) {
                    err = errno;
                }
                break;
            }
        }
        close(fd);
        if (err == 0) {
            freeaddrinfo(res);
            return 0;
        }
    }
    freeaddrinfo(res);
    switch (err) {
    case ECONNREFUSED:
        mqtt_detailf(detail, size, "connection refused (is the broker running on that port?)");
        break;
    case ETIMEDOUT:
        mqtt_detailf(detail, size, "no answer within %d s (host unreachable or port filtered)",
                     l->connect_timeout_s);
        break;
    default:
        mqtt_detailf(detail, size, "host unreachable: %s", strerror(err));
        break;
    }
    return -err;
}

static void destroy_client(struct sk_mqtt_link *l)
{
    pthread_mutex_lock(&l->lock);
    struct mosquitto *m = l->mosq;
    l->mosq = NULL;
    l->active = false;
    l->info.connected = false;
    pthread_mutex_unlock(&l->lock);
    mosquitto_destroy(m);
    l->state = AT_IDLE;
}

static int configure(struct sk_mqtt_link *l, struct mosquitto *m, char *detail, size_t size)
{
    int proto = l->attempt_proto;
    mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, proto);
    mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_threaded_set(m, true);
    if (proto == MQTT_PROTOCOL_V5) {
        mosquitto_int_option(m, MOSQ_OPT_SEND_MAXIMUM, l->inflight_max + SEND_MAX_HEADROOM);
    } else {
        mosquitto_max_inflight_messages_set(m, (unsigned)(l->inflight_max + SEND_MAX_HEADROOM));
    }
    mosquitto_connect_v5_callback_set(m, on_connect);
    mosquitto_disconnect_v5_callback_set(m, on_disconnect);
    mosquitto_publish_v5_callback_set(m, on_publish);
    mosquitto_subscribe_v5_callback_set(m, on_subscribe);
    mosquitto_message_v5_callback_set(m, on_message);
    mosquitto_log_callback_set(m, on_log);
    if (l->cred_file[0]) {
        struct sk_credentials cr;
        char err[SK_TEXT_MAX * 2];
        if (sk_credentials_load(l->cred_file, &cr, err, sizeof(err)) < 0) {
            mqtt_detailf(detail, size, "%s", err);
            return SK_EMQTT_AUTH;
        }
        int r = mosquitto_username_pw_set(m, cr.username, cr.password[0] ? cr.password : NULL);
        sk_credentials_wipe(&cr);
        if (r != MOSQ_ERR_SUCCESS) {
            mqtt_detailf(detail, size, "credentials rejected by libmosquitto: %s",
                         mosquitto_strerror(r));
            return SK_EMQTT_AUTH;
        }
    }
    if (l->tls) {
        /* Without a CA file the system's trust store is used. */
        int r = mosquitto_tls_set(
                m, l->ca_file[0] ? l->ca_file : NULL, l->ca_file[0] ? NULL : "/etc/ssl/certs",
                l->cert_file[0] ? l->cert_file : NULL, l->key_file[0] ? l->key_file : NULL, NULL);
        if (r == MOSQ_ERR_SUCCESS) {
            r = mosquitto_tls_opts_set(m, 1 /* SSL_VERIFY_PEER */, "tlsv1.2", NULL);
        }
        if (r == MOSQ_ERR_SUCCESS && l->tls_insecure) {
            r = mosquitto_tls_insecure_set(m, true);
        }
        if (r != MOSQ_ERR_SUCCESS) {
            mqtt_detailf(detail, size,
                         "TLS settings refused: %s (check mqtt.ca_file, cert_file, "
                         "key_file)",
                         mosquitto_strerror(r));
            return SK_EMQTT_TLS;
        }
    }
    if (!l->no_will) {
        int64_t now = sk_now_wall_us();
        struct sk_mqtt_env env = {SK_SCHEMA_STATUS,     l->store_id, l->device_id, l->ledger_id,
                                  atomic_load(&l->seq), now,         now};
        char *will = sk_mqtt_will_json(&env, l->gen, l->started_wall_us);
        mosquitto_property *p = NULL;
        if (proto == MQTT_PROTOCOL_V5) {
            mosquitto_property_add_string(&p, MQTT_PROP_CONTENT_TYPE, "application/json");
            mosquitto_property_add_byte(&p, MQTT_PROP_PAYLOAD_FORMAT_INDICATOR, 1);
        }
        int r = will ? mosquitto_will_set_v5(m, l->status_topic, (int)strlen(will), will, 1, true,
                                             p)
                     : MOSQ_ERR_NOMEM;
        free(will);
        if (r != MOSQ_ERR_SUCCESS) {
            mosquitto_property_free_all(&p);
            mqtt_detailf(detail, size, "cannot set the last will: %s", mosquitto_strerror(r));
            return SK_EMQTT;
        }
    }
    return 0;
}

/* One connection attempt: probe, new client, CONNECT. The CONNACK arrives in the loop. */
static void attempt(struct sk_mqtt_link *l)
{
    char detail[SK_TEXT_MAX] = "";
    l->last_log[0] = '\0';
    l->reported = false;
    l->stop_sent = false;
    l->attempt_proto = l->proto_next;
    pthread_mutex_lock(&l->lock);
    l->gen++;
    l->info.attempts++;
    l->inflight = 0;
    pthread_mutex_unlock(&l->lock);

    int r = probe(l, detail, sizeof(detail));
    if (r == -ECANCELED) {
        return;
    }
    if (r < 0) {
        push_link(l, SK_MQTT_CONNECT_FAILED, 0, -r, SK_MQTT_F_UNREACHABLE, schedule(l, false),
                  detail);
        return;
    }
    bool clean = l->session_expiry_s == 0;
    struct mosquitto *m = mosquitto_new(l->client_id, clean, l);
    if (!m) {
        push_link(l, SK_MQTT_CONNECT_FAILED, 0, ENOMEM, 0, schedule(l, false),
                  "cannot create the MQTT client (out of memory)");
        return;
    }
    r = configure(l, m, detail, sizeof(detail));
    if (r < 0) {
        mosquitto_destroy(m);
        push_link(l, SK_MQTT_CONNECT_FAILED, 0, 0,
                  r == SK_EMQTT_AUTH  ? SK_MQTT_F_AUTH
                  : r == SK_EMQTT_TLS ? SK_MQTT_F_TLS_FAILED
                                      : 0,
                  schedule(l, false), detail);
        return;
    }
    pthread_mutex_lock(&l->lock);
    l->mosq = m;
    pthread_mutex_unlock(&l->lock);
    mosquitto_property *props = NULL;
    if (l->attempt_proto == MQTT_PROTOCOL_V5 && !clean) {
        mosquitto_property_add_int32(&props, MQTT_PROP_SESSION_EXPIRY_INTERVAL,
                                     (uint32_t)l->session_expiry_s);
    }
    /* No Maximum Packet Size in the CONNECT (MQTT 5, 3.1.2.11.4), on purpose: a broker drops
     * what exceeds it without a word, and mosquitto 2.0.11 (Debian 12) then leaks one slot of
     * the device's receive window per dropped QoS 1 message, in the persistent session: twenty
     * oversized commands from any sender left the device deaf to commands for good. Without
     * it the broker delivers every command up to its own max_packet_size, and the device
     * answers what is above mqtt.command_max_bytes with too_large. The broker's limit is what
     * bounds the memory a sender can make the device use (docs/security.md); a broker that
     * announces none is reported at connect. */
    l->state = AT_CONNECTING;
    l->attempt_mono_us = sk_now_mono_us();
    errno = 0;
    r = mosquitto_connect_bind_v5(m, l->host, l->port, l->keepalive_s, NULL, props);
    int e = errno;
    mosquitto_property_free_all(&props);
    if (r != MOSQ_ERR_SUCCESS) {
        if (r == MOSQ_ERR_TLS || strstr(l->last_log, "verification") ||
            strstr(l->last_log, "OpenSSL")) {
            /* Name checks fail inside the connect call: let the shared wording explain. */
            l->state = AT_CONNECTING;
            on_disconnect(m, l, r, NULL);
        } else {
            mqtt_detailf(detail, sizeof(detail), "%s",
                         r == MOSQ_ERR_ERRNO ? strerror(e) : mosquitto_strerror(r));
            push_link(l, SK_MQTT_CONNECT_FAILED, 0, r, SK_MQTT_F_UNREACHABLE, schedule(l, false),
                      detail);
            l->reported = true;
        }
        destroy_client(l);
    }
}

static void *thread_main(void *arg)
{
    struct sk_mqtt_link *l = arg;
    pthread_setname_np(pthread_self(), "mqtt");
    while (!atomic_load(&l->stop) || l->state != AT_IDLE) {
        int64_t now = sk_now_mono_us();
        sk_heartbeat_beat(l->hb, now);
        if (l->state == AT_IDLE) {
            if (atomic_load(&l->stop)) {
                break;
            }
            if (l->once && l->info.attempts > 0 && !l->once_retry) {
                wait_wake(l, 1000);
                continue;
            }
            l->once_retry = false;
            if (now < l->next_attempt_mono_us) {
                int64_t ms = (l->next_attempt_mono_us - now + 999) / 1000;
                wait_wake(l, ms > 1000 ? 1000 : (int)ms);
                continue;
            }
            attempt(l);
            continue;
        }
        if (atomic_load(&l->stop)) {
            if (!l->stop_deadline_mono_us) {
                l->stop_deadline_mono_us = now + (int64_t)atomic_load(&l->stop_timeout_ms) * 1000;
            }
            if (l->state != AT_UP) {
                destroy_client(l);
                continue;
            }
            pthread_mutex_lock(&l->lock);
            int inflight = l->inflight;
            pthread_mutex_unlock(&l->lock);
            /* DISCONNECT only once every PUBACK is in: libmosquitto 2.0 takes a PUBACK that
             * arrives after its disconnect for a protocol error and drops the connection
             * without sending the DISCONNECT, which makes the broker publish the will. */
            if (!l->stop_sent && (inflight == 0 || now > l->stop_deadline_mono_us)) {
                l->stop_sent = true;
                mosquitto_disconnect_v5(l->mosq, 0, NULL);
            } else if (l->stop_sent && now > l->stop_deadline_mono_us + 1000000) {
                destroy_client(l);
                continue;
            }
        }
        if (l->state == AT_CONNECTING &&
            now - l->attempt_mono_us > (int64_t)l->connect_timeout_s * 1000000) {
            if (!l->reported) {
                l->reported = true;
                char detail[SK_TEXT_MAX];
                mqtt_detailf(detail, sizeof(detail),
                             "no CONNACK within %d s (is it an MQTT broker?)",
                             l->connect_timeout_s);
                push_link(l, SK_MQTT_CONNECT_FAILED, 0, ETIMEDOUT, 0, schedule(l, false), detail);
            }
            destroy_client(l);
            continue;
        }
        int rc = mosquitto_loop(l->mosq, LOOP_TIMEOUT_MS, 1);
        if (rc != MOSQ_ERR_SUCCESS) {
            if (!l->reported) {
                /* The loop ended without telling on_disconnect (e.g. no connection at all). */
                on_disconnect(l->mosq, l, rc, NULL);
            }
            destroy_client(l);
        }
    }
    return NULL;
}

/* ---- public API -------------------------------------------------------------------------- */

int sk_mqtt_link_new(const struct sk_mqtt_link_opts *opts, struct sk_mqtt_link **ret_link)
{
    const struct sk_config *cfg = opts->cfg;
    pthread_once(&lib_once, lib_init);
    struct sk_mqtt_link *l = calloc(1, sizeof(*l));
    if (!l) {
        return -ENOMEM;
    }
    const struct sk_mqtt_cfg *m = &cfg->mqtt;
    snprintf(l->host, sizeof(l->host), "%s", m->host);
    l->port = m->port;
    l->protocol_cfg = m->protocol;
    l->keepalive_s = m->keepalive_s;
    l->tls = m->tls;
    l->tls_insecure = m->tls_insecure;
    if (m->ca_file[0]) {
        sk_config_resolve_path(cfg, m->ca_file, l->ca_file, sizeof(l->ca_file));
    }
    if (m->cert_file[0]) {
        sk_config_resolve_path(cfg, m->cert_file, l->cert_file, sizeof(l->cert_file));
    }
    if (m->key_file[0]) {
        sk_config_resolve_path(cfg, m->key_file, l->key_file, sizeof(l->key_file));
    }
    if (m->credentials_file[0]) {
        sk_config_resolve_path(cfg, m->credentials_file, l->cred_file, sizeof(l->cred_file));
    }
    sk_mqtt_client_id(cfg, opts->client_suffix, l->client_id, sizeof(l->client_id));
    snprintf(l->store_id, sizeof(l->store_id), "%s", cfg->store_id);
    snprintf(l->device_id, sizeof(l->device_id), "%s", cfg->device_id);
    snprintf(l->ledger_id, sizeof(l->ledger_id), "%s", opts->ledger_id ? opts->ledger_id : "");
    sk_mqtt_topic(cfg, "", l->prefix, sizeof(l->prefix));
    sk_mqtt_topic(cfg, "cmd/", l->cmd_prefix, sizeof(l->cmd_prefix));
    sk_mqtt_topic(cfg, "diag/echo/", l->echo_prefix, sizeof(l->echo_prefix));
    sk_mqtt_topic(cfg, "status", l->status_topic, sizeof(l->status_topic));
    l->inflight_max = m->inflight_max;
    l->reconnect_min_ms = m->reconnect_min_ms;
    l->reconnect_max_ms = m->reconnect_max_ms;
    l->session_expiry_s = m->session_expiry_s;
    l->connect_timeout_s = m->connect_timeout_s > 0 ? m->connect_timeout_s : 10;
    l->watchdog_stall_us =
            (int64_t)(cfg->core.watchdog_stall_s > 0 ? cfg->core.watchdog_stall_s : 20) * 1000000;
    l->once = opts->once;
    l->no_will = opts->no_will;
    l->started_wall_us = opts->started_wall_us ? opts->started_wall_us : sk_now_wall_us();
    l->queue = opts->queue;
    atomic_init(&l->command_max, m->command_max_bytes > 0 ? m->command_max_bytes : 65536);
    atomic_init(&l->command_rate, m->command_rate_max > 0 ? m->command_rate_max : 20);
    atomic_init(&l->seq, 0);
    atomic_init(&l->stop, false);
    atomic_init(&l->stop_timeout_ms, 2000);
    l->proto_next = m->protocol == 311 ? MQTT_PROTOCOL_V311 : MQTT_PROTOCOL_V5;
    l->attempt_proto = l->proto_next;
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed) || seed == 0) {
        seed = (uint64_t)sk_now_mono_us() | 1;
    }
    l->rng = seed;
    pthread_mutex_init(&l->lock, NULL);
    l->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (l->wake_fd < 0) {
        int e = -errno;
        pthread_mutex_destroy(&l->lock);
        free(l);
        return e;
    }
    size_t n = 0;
    while (opts->subscriptions && opts->subscriptions[n]) {
        n++;
    }
    l->subs = calloc(n + 1, sizeof(*l->subs));
    if (!l->subs) {
        sk_mqtt_link_free(l);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        char t[SK_TOPIC_MAX];
        sk_mqtt_topic(cfg, opts->subscriptions[i], t, sizeof(t));
        l->subs[i] = strdup(t);
        if (!l->subs[i]) {
            sk_mqtt_link_free(l);
            return -ENOMEM;
        }
        l->n_subs++;
    }
    snprintf(l->store_prefix, sizeof(l->store_prefix), "storekeeper/v1/%s/", cfg->store_id);
    for (size_t i = 0; opts->store_subscriptions && opts->store_subscriptions[i]; i++) {
        char t[SK_TOPIC_MAX];
        snprintf(t, sizeof(t), "%s%s", l->store_prefix, opts->store_subscriptions[i]);
        char **grown = realloc(l->subs, (l->n_subs + 2) * sizeof(*l->subs));
        if (!grown) {
            sk_mqtt_link_free(l);
            return -ENOMEM;
        }
        l->subs = grown;
        l->subs[l->n_subs] = strdup(t);
        l->subs[l->n_subs + 1] = NULL;
        if (!l->subs[l->n_subs]) {
            sk_mqtt_link_free(l);
            return -ENOMEM;
        }
        l->n_subs++;
    }
    mosquitto_property_add_string(&l->event_props, MQTT_PROP_CONTENT_TYPE, "application/json");
    mosquitto_property_add_byte(&l->event_props, MQTT_PROP_PAYLOAD_FORMAT_INDICATOR, 1);
    *ret_link = l;
    return 0;
}

int sk_mqtt_link_start(struct sk_mqtt_link *l)
{
    if (l->thread_started) {
        return -EALREADY;
    }
    l->hb = sk_heartbeat_register("mqtt", l->watchdog_stall_us);
    int r = pthread_create(&l->thread, NULL, thread_main, l);
    if (r != 0) {
        sk_heartbeat_unregister(l->hb);
        l->hb = NULL;
        return -r;
    }
    l->thread_started = true;
    return 0;
}

void sk_mqtt_link_stop(struct sk_mqtt_link *l, int timeout_ms)
{
    if (!l || !l->thread_started) {
        return;
    }
    atomic_store(&l->stop_timeout_ms, timeout_ms > 0 ? timeout_ms : 0);
    atomic_store(&l->stop, true);
    uint64_t one = 1;
    ssize_t n = write(l->wake_fd, &one, sizeof(one));
    (void)n;
    pthread_join(l->thread, NULL);
    l->thread_started = false;
    sk_heartbeat_unregister(l->hb);
    l->hb = NULL;
}

void sk_mqtt_link_free(struct sk_mqtt_link *l)
{
    if (!l) {
        return;
    }
    sk_mqtt_link_stop(l, 0);
    destroy_client(l);
    for (size_t i = 0; i < l->n_subs; i++) {
        free(l->subs[i]);
    }
    free(l->subs);
    mosquitto_property_free_all(&l->event_props);
    if (l->wake_fd >= 0) {
        close(l->wake_fd);
    }
    pthread_mutex_destroy(&l->lock);
    free(l);
}

int sk_mqtt_link_publish(struct sk_mqtt_link *l,
                         uint32_t generation,
                         const char *topic,
                         const void *payload,
                         size_t len,
                         const struct sk_mqtt_pub *pub,
                         int *ret_mid)
{
    if (len > 268435455) {
        return -E2BIG;
    }
    pthread_mutex_lock(&l->lock);
    if (!l->mosq || !l->active || l->gen != generation) {
        pthread_mutex_unlock(&l->lock);
        return -ENOTCONN;
    }
    mosquitto_property *props = NULL;
    const mosquitto_property *use = NULL;
    if (l->protocol == 5) {
        if (pub->correlation || pub->expiry_s) {
            /* Built with add_*, not copied: libmosquitto 2.0 sends only the first property of
             * a list that is not marked client-generated, and copies are not. */
            mosquitto_property_add_string(&props, MQTT_PROP_CONTENT_TYPE, "application/json");
            mosquitto_property_add_byte(&props, MQTT_PROP_PAYLOAD_FORMAT_INDICATOR, 1);
            if (pub->correlation) {
                mosquitto_property_add_binary(&props, MQTT_PROP_CORRELATION_DATA, pub->correlation,
                                              (uint16_t)pub->correlation_len);
            }
            if (pub->expiry_s) {
                mosquitto_property_add_int32(&props, MQTT_PROP_MESSAGE_EXPIRY_INTERVAL,
                                             pub->expiry_s);
            }
            use = props;
        } else {
            use = l->event_props;
        }
    }
    int mid = 0;
    /* QoS 1 always: the link counts PUBACKs to know when a clean stop may disconnect. */
    int rc = mosquitto_publish_v5(l->mosq, &mid, topic, (int)len, payload, 1, pub->retain, use);
    if (rc == MOSQ_ERR_SUCCESS) {
        l->inflight++;
    }
    pthread_mutex_unlock(&l->lock);
    mosquitto_property_free_all(&props);
    switch (rc) {
    case MOSQ_ERR_SUCCESS:
        if (ret_mid) {
            *ret_mid = mid;
        }
        return 0;
    case MOSQ_ERR_NO_CONN:
        return -ENOTCONN;
    case MOSQ_ERR_PAYLOAD_SIZE:
    case MOSQ_ERR_OVERSIZE_PACKET:
        return -E2BIG;
    case MOSQ_ERR_NOMEM:
        return -ENOMEM;
    default:
        return SK_EMQTT;
    }
}

void sk_mqtt_link_set_seq(struct sk_mqtt_link *l, int64_t seq)
{
    atomic_store(&l->seq, seq);
}

void sk_mqtt_link_set_command_rate(struct sk_mqtt_link *l, int per_s)
{
    atomic_store(&l->command_rate, per_s > 0 ? per_s : 20);
}

void sk_mqtt_link_set_command_max(struct sk_mqtt_link *l, int bytes)
{
    atomic_store(&l->command_max, bytes);
}

void sk_mqtt_link_get_info(struct sk_mqtt_link *l, struct sk_mqtt_link_info *ret_info)
{
    pthread_mutex_lock(&l->lock);
    *ret_info = l->info;
    pthread_mutex_unlock(&l->lock);
}
