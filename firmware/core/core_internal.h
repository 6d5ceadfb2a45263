/* SPDX-License-Identifier: MIT */
/* The core's state, shared by its files (core.c dispatches to core_health.c, core_commands.c
 * and core_census.c); nobody outside firmware/core/ includes it. */
#ifndef SK_CORE_INTERNAL_H
#define SK_CORE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storekeeper/bucket.h"
#include "storekeeper/command.h"
#include "storekeeper/core.h"
#include "storekeeper/fusion.h"
#include "storekeeper/log.h"
#include "storekeeper/obs.h"

#define MAX_SOURCES 512

struct source_health {
    char name[SK_NAME_MAX];
    uint8_t state;
    bool camera;
    /* The state the last event/reader recorded; SK_HEALTH_UNKNOWN after a start or a
     * rolled-back write, so a change is recorded again when its transaction is retried. */
    uint8_t recorded;
    /* A flapping reader must not flood the outbox or the log: a token bucket of
     * READER_EVENT_BURST changes refilled one per READER_EVENT_REFILL_US; changes beyond it
     * are counted and the count rides on the next one written ("suppressed"). */
    struct sk_bucket bucket;
    uint32_t suppressed;
    /* The latest report (for the tick that writes a state the bucket held back) */
    struct sk_obs_health last;
    int64_t last_wall_us;
};

/* Writes the state of a reader whose latest change the bucket held back, once a token is
 * there: the history must not rest on a state the reader left (core_health.c). */
void core_health_tick(struct sk_core *c);

#define READER_EVENT_BURST     6
#define READER_EVENT_REFILL_US 60000000LL

struct sk_core {
    const struct sk_config *cfg;
    struct sk_ledger *ledger;
    int64_t next_census_us;
    struct sk_complain census_complaint;
    struct sk_tagset *present;
    const struct sk_clock *clock;
    struct sk_core_stats stats;
    struct source_health sources[MAX_SOURCES];
    size_t n_sources;
    struct sk_fusion *fusion;               /* who took what (fusion.c) */
    int64_t loaded_mono_us, loaded_wall_us; /* when fusion last loaded its state */
    struct sk_complain fusion_complaint;
    sk_fusion_emit_cb listener;
    void *listener_ctx;
    sk_core_command_cb command_listener;
    void *command_ctx;
    /* Outcomes of commands handled in the open ledger transaction: told to the command
     * listener once it commits (sk_core_replies_flush), dropped when it rolls back. */
    struct core_reply *replies;
    size_t n_replies, cap_replies;
    /* A satellite's buffer (its outbox): pending when last counted, rows added since. */
    int64_t buffer_checked_us;
    int64_t buffer_added;
    struct sk_complain buffer_complaint;
    /* outbox_resend's bucket (mqtt.resend_rate_max per minute): core_commands.c */
    struct sk_bucket resend_bucket;
};

struct core_reply {
    struct sk_obs obs; /* the command's observation: reply topic and correlation (no payload) */
    struct sk_cmd cmd; /* kind, request_id, identity, a resend's range (nothing it owns) */
    struct sk_cmd_result res;
};

/* core_health.c: a reader's or camera's health report (bookkeeping, log, event/reader). */
int core_handle_health(struct sk_core *c, const struct sk_obs *obs, bool camera);
/* core_health.c: event/flow, a camera's counts over one flow interval. */
int core_record_flow(struct sk_core *c, const struct sk_obs *obs);
/* core_commands.c: a command from the cloud, applied exactly once; its reply is queued. */
int core_handle_command(struct sk_core *c, const struct sk_obs *obs);
/* core_census.c: runs the census when its interval is due. */
void core_census_tick(struct sk_core *c);

#endif
