/* SPDX-License-Identifier: MIT */
/* The core state machine: the only owner of domain state, driven by observations and ticks. */
#ifndef STOREKEEPER_CORE_H
#define STOREKEEPER_CORE_H

#include <stdint.h>

#include "storekeeper/clock.h"
#include "storekeeper/command.h"
#include "storekeeper/config.h"
#include "storekeeper/fusion.h"
#include "storekeeper/ledger.h"
#include "storekeeper/obs.h"
#include "storekeeper/tagset.h"

/*
 * The core is a plain state machine: sk_core_handle() for each observation and sk_core_tick()
 * for the passage of time. It does no I/O of its own besides the ledger and never blocks on
 * producers, so tests drive it synchronously with a manual clock and `replay` feeds it a
 * recorded observation log with the recorded times.
 */
struct sk_core;

struct sk_core_stats {
    uint64_t handled[SK_OBS_TYPE_COUNT]; /* observations by type */
    uint64_t ticks;
    int64_t started_mono_us;
    uint32_t readers_up, readers_degraded, readers_down;
    uint32_t cameras_up, cameras_degraded, cameras_down;
    uint64_t present_overflow; /* arrivals not recorded: the present set was full */
    uint64_t censuses;         /* census runs that completed */
    uint64_t census_failures;
    struct sk_census_result last_census;
    uint64_t origin_repeats; /* satellites' observations dropped as already applied */
    uint64_t origin_gaps;    /* and as coming after one not applied yet (sent again later) */
    /* A satellite: observations written to its outbox for the hub, dropped above
     * satellite.buffer_max, and the rows pending when last counted. */
    uint64_t forwarded, buffer_dropped;
    int64_t buffer_pending;
};

/* cfg and clock are borrowed and must outlive the core (see sk_core_set_config). */
int sk_core_new(const struct sk_config *cfg,
                const struct sk_clock *clock,
                struct sk_core **ret_core);
void sk_core_free(struct sk_core *core);

/* Handles one observation. The caller keeps ownership of obs. Returns 0 or a negative error
 * for an observation that could not be applied (logged; the core keeps running). One with an
 * origin (a satellite's) is applied once per (origin, origin_ledger, origin_seq). */
int sk_core_handle(struct sk_core *core, const struct sk_obs *obs);
/* Applies time-driven rules at the clock's current time. */
void sk_core_tick(struct sk_core *core);
/* Switches to a reloaded configuration (borrowed); the old one may be freed afterwards. */
void sk_core_set_config(struct sk_core *core, const struct sk_config *cfg);
void sk_core_get_stats(const struct sk_core *core, struct sk_core_stats *ret_stats);
/*
 * The tags the core holds as present at each (reader, antenna), from the arrivals and
 * departures it has handled. Owned by the core; use on the core thread only. Bus services
 * seed their presence filters from it at start, so a restart produces neither a burst of
 * false arrivals nor lost departures; the ledger keeps it durable across restarts.
 */
struct sk_tagset *sk_core_present(struct sk_core *core);
/*
 * Gives the core its ledger (borrowed; NULL detaches) and loads the present-tag set from it,
 * replacing what the set held. From then on every arrival and departure is written to the
 * ledger in the transaction the caller has open (the runtime's batch). Returns the number of
 * tags loaded or < 0 (the set is then empty and the ledger still attached).
 */
int sk_core_set_ledger(struct sk_core *core, struct sk_ledger *ledger);
/*
 * Runs a census now (the tick runs one every ledger.census_interval_s): shelves whose reader
 * is not up are left out. Returns 0 and the result (may be NULL), or < 0 (also without a
 * ledger: -ENODEV).
 */
int sk_core_census(struct sk_core *core, struct sk_census_result *ret);
/* Last known health of a reader or camera; SK_HEALTH_UNKNOWN before the first report. */
int sk_core_source_health(const struct sk_core *core, const char *source);

/* The clock's time when the core last loaded its state from the ledger (sk_core_set_ledger):
 * a recording starts there, and replay sets its clock to it before loading the same state. */
void sk_core_loaded_at(const struct sk_core *core, int64_t *ret_mono_us, int64_t *ret_wall_us);
/* The fusion engine (sessions, carts, checkout, restock) the core feeds. Owned by the core. */
struct sk_fusion *sk_core_fusion(struct sk_core *core);
/* Receives every fact the fusion engine establishes, on the core thread, inside the
 * transaction of the observation or tick that caused it; a negative return fails that
 * observation. NULL detaches. */
void sk_core_set_listener(struct sk_core *core, sk_fusion_emit_cb cb, void *ctx);

/*
 * Cloud commands that change state (session_bind, restock_done, catalog_upsert) reach the core
 * as SK_OBS_MQTT_COMMAND observations, like every other fact: the MQTT link has already
 * answered malformed, unknown, oversize and forbidden ones and passes on only what it
 * validated; sk_core_handle() parses it again (command.h) and applies it through the fusion
 * engine or the ledger inside the observation's transaction, once per sender and request_id:
 * with a ledger, the outcome is recorded in the same transaction, and a request applied before
 * is answered with its recorded outcome (result.repeat) instead of being applied again.
 *
 * The outcome waits until the transaction is durable: the runtime calls
 * sk_core_replies_flush() after its commit (the command listener then replies) and
 * sk_core_replies_undo() when the transaction, or the observation's savepoint, rolls back (a
 * retried batch applies the command again and produces the outcome again). A reply is
 * therefore never sent for an effect a crash can still undo. Without a listener nothing waits.
 */
typedef void (*sk_core_command_cb)(void *ctx,
                                   const struct sk_obs *obs,
                                   const struct sk_cmd *cmd,
                                   const struct sk_cmd_result *result);
/* Sets the listener (NULL detaches); called on the core thread. */
void sk_core_set_command_listener(struct sk_core *core, sk_core_command_cb cb, void *ctx);
/* How many outcomes wait now: the mark to undo to when what follows rolls back. */
size_t sk_core_replies_mark(const struct sk_core *core);
/* Drops the outcomes after mark (their transaction or savepoint rolled back). */
void sk_core_replies_undo(struct sk_core *core, size_t mark);
/* Their transaction committed: hands every waiting outcome to the listener, in order. */
void sk_core_replies_flush(struct sk_core *core);

/*
 * Applies one validated state-changing command (cmd borrowed) and says what happened in
 * *ret_result: DONE when applied, QUEUED when held for logic that acts later (a bind for the
 * next shopper who enters), REJECTED with an error naming the field otherwise. Returns 0
 * (also for REJECTED), or a negative ledger or fusion error after which the observation's
 * transaction must fail (the runtime retries it).
 */
int sk_core_command(struct sk_core *core,
                    const struct sk_cmd *cmd,
                    struct sk_cmd_result *ret_result);

#endif
