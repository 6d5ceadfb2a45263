/* SPDX-License-Identifier: MIT */
/* The simulator's side of MQTT: a local mosquitto broker, and the cloud that listens to it. */
#include "sim_mqtt.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <mosquitto.h>

#include "sim_run.h"
#include "storekeeper/buf.h"
#include "storekeeper/clock.h"

/*
 * The broker is the Debian package's mosquitto, started with a configuration of our own
 * (a loopback listener on a free port, anonymous access, no persistence) and stopped by its
 * PID. The "cloud" is one libmosquitto client that subscribes to the store's events at QoS 1
 * before the store starts, keeps every message (its own network thread appends them under a
 * lock), and publishes commands such as session binds. At the end of a run it publishes a
 * marker to itself (sim_cloud_flush): the broker routes in order, so once the marker is back,
 * every event the broker accepted before it has arrived.
 */

#define MOSQUITTO_BIN "/usr/sbin/mosquitto"

/* Commands the cloud sent, for sending again as a cloud does after a lost reply. */
#define SENT_MAX 1000

struct sim_sent {
    char name[32];
    char *json;
};

struct sim_cloud {
    struct mosquitto *m;
    pthread_mutex_t lock;
    struct sim_event *events;
    size_t n, cap;
    struct sim_event *replies; /* reply/... messages, apart from the events */
    size_t n_replies, cap_replies;
    struct sim_sent *sent;
    size_t n_sent, cap_sent;
    char prefix[128];      /* storekeeper/v1/<store>/<device>/ */
    char marker_topic[64]; /* sk-sim/marker/<client id> */
    sim_cloud_cb cb;
    void *ctx;
    int subscribed; /* SUBACKs received (events, replies, marker) */
    int markers_sent, markers_seen;
};

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return -errno;
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int port = -EADDRNOTAVAIL;
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0) {
        port = ntohs(a.sin_port);
    }
    close(fd);
    return port;
}

static bool listening(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return false;
    }
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

int sim_broker_start(const char *dir, struct sim_broker *ret)
{
    if (access(MOSQUITTO_BIN, X_OK) != 0) {
        fprintf(stderr, "sim: %s is missing (Debian package mosquitto); or use --broker\n",
                MOSQUITTO_BIN);
        return -ENOENT;
    }
    for (int attempt = 0; attempt < 5; attempt++) {
        int port = free_port();
        if (port < 0) {
            return port;
        }
        char conf[512], log[512];
        snprintf(conf, sizeof(conf), "%s/mosquitto.conf", dir);
        snprintf(log, sizeof(log), "%s/mosquitto.log", dir);
        FILE *f = fopen(conf, "w");
        if (!f) {
            return -errno;
        }
        /* mosquitto 2.0 started as root refuses to run without a user to switch to; the
         * packet limit is the one docs/examples/broker/mosquitto.conf ships (a device warns
         * about a broker without one) */
        fprintf(f,
                "listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n"
                "max_packet_size 131072\n%s"
                "log_dest file %s\n",
                port, geteuid() == 0 ? "user root\n" : "", log);
        fclose(f);
        pid_t pid = fork();
        if (pid < 0) {
            return -errno;
        }
        if (pid == 0) {
            sigset_t none;
            sigemptyset(&none);
            pthread_sigmask(SIG_SETMASK, &none, NULL); /* the runtime blocked them for itself */
            int null = open("/dev/null", O_RDWR);
            if (null >= 0) {
                dup2(null, STDOUT_FILENO); /* it logs to its file */
                dup2(null, STDERR_FILENO);
            }
            execl(MOSQUITTO_BIN, "mosquitto", "-c", conf, (char *)NULL);
            _exit(127);
        }
        for (int i = 0; i < 100; i++) {
            if (listening(port)) {
                ret->pid = pid;
                ret->port = port;
                return 0;
            }
            int status;
            if (waitpid(pid, &status, WNOHANG) == pid) {
                break; /* it died: the port was taken meanwhile, try another */
            }
            usleep(50000);
        }
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
    }
    fprintf(stderr, "sim: mosquitto did not start (see %s/mosquitto.log)\n", dir);
    return -EIO;
}

void sim_broker_stop(struct sim_broker *b)
{
    if (b && b->pid > 0) {
        kill(b->pid, SIGTERM);
        waitpid(b->pid, NULL, 0);
        b->pid = 0;
    }
}

/* ---- the cloud --------------------------------------------------------------------------- */

static void on_message(struct mosquitto *m, void *ctx, const struct mosquitto_message *msg)
{
    (void)m;
    struct sim_cloud *c = ctx;
    size_t plen = strlen(c->prefix);
    if (msg->topic && strcmp(msg->topic, c->marker_topic) == 0) {
        pthread_mutex_lock(&c->lock);
        c->markers_seen++;
        pthread_mutex_unlock(&c->lock);
        return;
    }
    if (!msg->topic || strncmp(msg->topic, c->prefix, plen) != 0 || msg->payloadlen <= 0) {
        return;
    }
    char *payload = malloc((size_t)msg->payloadlen + 1);
    if (!payload) {
        return;
    }
    memcpy(payload, msg->payload, (size_t)msg->payloadlen);
    payload[msg->payloadlen] = 0;
    pthread_mutex_lock(&c->lock);
    if (strncmp(msg->topic + plen, "reply/", 6) == 0) {
        struct sim_event *r =
                sk_grow(c->replies, &c->cap_replies, c->n_replies + 1, sizeof(*r), SIM_EVENTS_MAX);
        if (r) {
            c->replies = r;
            r = &c->replies[c->n_replies++];
            snprintf(r->topic, sizeof(r->topic), "%s", msg->topic + plen);
            r->payload = payload;
        } else {
            free(payload);
        }
        pthread_mutex_unlock(&c->lock);
        return;
    }
    struct sim_event *e = sk_grow(c->events, &c->cap, c->n + 1, sizeof(*e), SIM_EVENTS_MAX);
    if (!e) {
        pthread_mutex_unlock(&c->lock);
        free(payload);
        return;
    }
    c->events = e;
    e = &c->events[c->n++];
    memset(e, 0, sizeof(*e));
    snprintf(e->topic, sizeof(e->topic), "%s", msg->topic + plen);
    e->payload = payload;
    pthread_mutex_unlock(&c->lock);
    if (c->cb) {
        c->cb(c->ctx, e->topic, payload);
    }
}

static void on_subscribe(struct mosquitto *m, void *ctx, int mid, int n, const int *qos)
{
    (void)m;
    (void)mid;
    struct sim_cloud *c = ctx;
    pthread_mutex_lock(&c->lock);
    c->subscribed += n > 0 && qos[0] <= 2;
    pthread_mutex_unlock(&c->lock);
}

int sim_cloud_start(const char *host, int port, sim_cloud_cb cb, void *ctx, struct sim_cloud **ret)
{
    mosquitto_lib_init();
    struct sim_cloud *c = calloc(1, sizeof(*c));
    if (!c) {
        return -ENOMEM;
    }
    pthread_mutex_init(&c->lock, NULL);
    snprintf(c->prefix, sizeof(c->prefix), "storekeeper/v1/sim/%s/", SIM_HUB);
    c->cb = cb;
    c->ctx = ctx;
    char id[32];
    snprintf(id, sizeof(id), "sk-sim-cloud-%d", (int)getpid());
    snprintf(c->marker_topic, sizeof(c->marker_topic), "sk-sim/marker/%s", id);
    c->m = mosquitto_new(id, true, c);
    if (!c->m) {
        free(c);
        return -ENOMEM;
    }
    mosquitto_message_callback_set(c->m, on_message);
    mosquitto_subscribe_callback_set(c->m, on_subscribe);
    int rc = mosquitto_connect(c->m, host, port, 30);
    char topic[160], replies[160];
    snprintf(topic, sizeof(topic), "%sevent/#", c->prefix);
    snprintf(replies, sizeof(replies), "%sreply/#", c->prefix);
    if (rc == MOSQ_ERR_SUCCESS) {
        rc = mosquitto_subscribe(c->m, NULL, topic, 1);
    }
    if (rc == MOSQ_ERR_SUCCESS) {
        rc = mosquitto_subscribe(c->m, NULL, replies, 1);
    }
    if (rc == MOSQ_ERR_SUCCESS) {
        rc = mosquitto_subscribe(c->m, NULL, c->marker_topic, 1);
    }
    if (rc == MOSQ_ERR_SUCCESS) {
        rc = mosquitto_loop_start(c->m);
    }
    if (rc != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "sim: cannot listen to the broker at %s:%d: %s\n", host, port,
                mosquitto_strerror(rc));
        mosquitto_destroy(c->m);
        free(c);
        return -EIO;
    }
    for (int i = 0; i < 100; i++) {
        pthread_mutex_lock(&c->lock);
        bool ok = c->subscribed == 3;
        pthread_mutex_unlock(&c->lock);
        if (ok) {
            *ret = c;
            return 0;
        }
        usleep(20000);
    }
    fprintf(stderr, "sim: the broker did not confirm the subscription\n");
    sim_cloud_stop(c, NULL, NULL);
    return -ETIMEDOUT;
}

static int publish_command(struct sim_cloud *c, const char *name, const char *json)
{
    char topic[200];
    snprintf(topic, sizeof(topic), "%scmd/%s", c->prefix, name);
    int rc = mosquitto_publish(c->m, NULL, topic, (int)strlen(json), json, 1, false);
    return rc == MOSQ_ERR_SUCCESS ? 0 : -EIO;
}

int sim_cloud_command(struct sim_cloud *c, const char *name, const char *json)
{
    pthread_mutex_lock(&c->lock);
    struct sim_sent *s = sk_grow(c->sent, &c->cap_sent, c->n_sent + 1, sizeof(*s), SENT_MAX);
    if (s) {
        c->sent = s;
        s = &c->sent[c->n_sent];
        s->json = strdup(json);
        if (s->json) {
            snprintf(s->name, sizeof(s->name), "%s", name);
            c->n_sent++;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return publish_command(c, name, json);
}

int sim_cloud_resend(struct sim_cloud *c)
{
    /* A copy: sim_cloud_command may grow the list meanwhile (publishing takes libmosquitto's
     * locks, not to be held under ours). */
    pthread_mutex_lock(&c->lock);
    size_t n = c->n_sent;
    struct sim_sent *copy = calloc(n ? n : 1, sizeof(*copy));
    for (size_t i = 0; copy && i < n; i++) {
        copy[i] = c->sent[i];
        copy[i].json = strdup(c->sent[i].json);
    }
    pthread_mutex_unlock(&c->lock);
    int sent = 0;
    for (size_t i = 0; copy && i < n; i++) {
        sent += copy[i].json && publish_command(c, copy[i].name, copy[i].json) == 0;
        free(copy[i].json);
    }
    free(copy);
    return sent;
}

size_t sim_cloud_sent(struct sim_cloud *c)
{
    pthread_mutex_lock(&c->lock);
    size_t n = c->n_sent;
    pthread_mutex_unlock(&c->lock);
    return n;
}

/* A copy of n events that the caller frees (payloads too), taken under c->lock so the
 * receiving thread may go on appending; short of memory, the events copied so far. */
static struct sim_event *copy_events(struct sim_cloud *c,
                                     struct sim_event *const *events,
                                     const size_t *count,
                                     size_t *ret_n)
{
    pthread_mutex_lock(&c->lock);
    size_t n = *count;
    struct sim_event *copy = calloc(n ? n : 1, sizeof(*copy));
    for (size_t i = 0; copy && i < n; i++) {
        copy[i] = (*events)[i];
        copy[i].payload = strdup((*events)[i].payload);
        if (!copy[i].payload) {
            n = i;
            break;
        }
    }
    pthread_mutex_unlock(&c->lock);
    *ret_n = copy ? n : 0;
    return copy;
}

struct sim_event *sim_cloud_replies(struct sim_cloud *c, size_t *ret_n)
{
    return copy_events(c, &c->replies, &c->n_replies, ret_n);
}

int sim_cloud_flush(struct sim_cloud *c, int timeout_ms)
{
    pthread_mutex_lock(&c->lock);
    int want = ++c->markers_sent;
    pthread_mutex_unlock(&c->lock);
    static const char marker[] = "{\"marker\":true}"; /* JSON, as all the broker carries */
    int rc = mosquitto_publish(c->m, NULL, c->marker_topic, (int)strlen(marker), marker, 1, false);
    if (rc != MOSQ_ERR_SUCCESS) {
        return -EIO;
    }
    int64_t end = sk_now_mono_us() + (int64_t)timeout_ms * 1000;
    for (;;) {
        pthread_mutex_lock(&c->lock);
        bool back = c->markers_seen >= want;
        pthread_mutex_unlock(&c->lock);
        if (back) {
            return 0;
        }
        if (sk_now_mono_us() > end) {
            return -ETIMEDOUT;
        }
        usleep(5000);
    }
}

struct sim_event *sim_cloud_snapshot(struct sim_cloud *c, size_t *ret_n)
{
    return copy_events(c, &c->events, &c->n, ret_n);
}

size_t sim_cloud_count(struct sim_cloud *c)
{
    pthread_mutex_lock(&c->lock);
    size_t n = c->n;
    pthread_mutex_unlock(&c->lock);
    return n;
}

void sim_cloud_stop(struct sim_cloud *c, struct sim_event **ret_events, size_t *ret_n)
{
    if (!c) {
        return;
    }
    mosquitto_disconnect(c->m);
    mosquitto_loop_stop(c->m, false);
    mosquitto_destroy(c->m);
    for (size_t i = 0; i < c->n_replies; i++) {
        free(c->replies[i].payload);
    }
    free(c->replies);
    for (size_t i = 0; i < c->n_sent; i++) {
        free(c->sent[i].json);
    }
    free(c->sent);
    if (ret_events) {
        *ret_events = c->events;
        *ret_n = c->n;
    } else {
        for (size_t i = 0; i < c->n; i++) {
            free(c->events[i].payload);
        }
        free(c->events);
    }
    pthread_mutex_destroy(&c->lock);
    free(c);
}
