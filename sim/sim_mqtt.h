/* SPDX-License-Identifier: MIT */
/* The simulator's MQTT peers: a local broker and a subscriber playing the cloud. */
#ifndef SK_SIM_MQTT_H
#define SK_SIM_MQTT_H

#include <stddef.h>

#include <sys/types.h>

#include "sim_run.h"

/* Events one simulated run collects (the cloud's copy, the ledger's ids): far above the
 * longest scenario's few thousand. */
#define SIM_EVENTS_MAX 10000000

struct sim_broker {
    pid_t pid;
    int port;
};

/* Starts mosquitto on a free loopback port with its config and log in dir. */
int sim_broker_start(const char *dir, struct sim_broker *ret);
/* SIGTERM by PID, then waits. Accepts a broker that never started. */
void sim_broker_stop(struct sim_broker *b);

struct sim_cloud;
/* Called on the client's network thread for every event (topic suffix, payload). */
typedef void (*sim_cloud_cb)(void *ctx, const char *topic, const char *payload);

/* The cloud of the simulated store (store "sim", its hub SIM_HUB: sim_run.h): connects,
 * subscribes to storekeeper/v1/sim/<hub>/event/# and reply/# (and its own marker topic) at
 * QoS 1 and waits for the broker's confirmation. Returns 0 or < 0 (with a message on stderr). */
int sim_cloud_start(const char *host, int port, sim_cloud_cb cb, void *ctx, struct sim_cloud **ret);
/* Publishes json to .../cmd/<name> at QoS 1, and keeps it (up to 1000) for sim_cloud_resend. */
int sim_cloud_command(struct sim_cloud *c, const char *name, const char *json);
/* Publishes every command sent so far again, as a cloud does that lost the replies (the crash
 * loop, after each restart). Returns how many were published. */
int sim_cloud_resend(struct sim_cloud *c);
/* How many commands were sent (not counting resends). */
size_t sim_cloud_sent(struct sim_cloud *c);
/* A copy of the replies (.../reply/...) received so far (free each payload, then the array). */
struct sim_event *sim_cloud_replies(struct sim_cloud *c, size_t *ret_n);
/* Publishes a marker to itself through the broker and waits for it (at most timeout_ms):
 * then every message the broker accepted before has arrived. 0, -ETIMEDOUT or -EIO. */
int sim_cloud_flush(struct sim_cloud *c, int timeout_ms);
size_t sim_cloud_count(struct sim_cloud *c);
/* A copy of the events received so far (free each payload, then the array). */
struct sim_event *sim_cloud_snapshot(struct sim_cloud *c, size_t *ret_n);
/* Disconnects; the events received go to *ret_events (owned by the caller) when non-NULL. */
void sim_cloud_stop(struct sim_cloud *c, struct sim_event **ret_events, size_t *ret_n);

#endif
