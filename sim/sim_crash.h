/* SPDX-License-Identifier: MIT */
/* The crash loop of the simulated store: the runtime killed and restarted while shoppers shop. */
#ifndef SK_SIM_CRASH_H
#define SK_SIM_CRASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim_run.h"

struct sim_crash_opts {
    int kills;     /* SIGKILLs spread over the scenario */
    uint64_t seed; /* of the kill schedule (printed; 0 means 1) */
};

struct sim_crash_report {
    uint64_t seed;
    int kills, restarts;
    int unexpected_exits;      /* the runtime died without being killed */
    bool clean_exit;           /* the final SIGTERM ended it with exit 0 */
    bool clean_exit_satellite; /* the same for a two-board store's satellite (never killed) */
    double drain_s;            /* after the scenario, until the cloud held every event */
    size_t ledger_events;      /* rows of the outbox */
    int64_t last_seq;
    size_t unique, redelivered; /* event ids received once, copies received again */
    size_t id_conflicts;        /* an id with two different events, or a seq of another id */
    size_t seq_gaps;            /* outbox rows whose seq is not its row number */
    size_t unparsable;          /* received payloads without id or seq */
    int64_t movements;          /* rows of the hash chain checked */
    char integrity[128];        /* "ok" or what PRAGMA integrity_check said */
    char chain[192];            /* "ok" or the first broken movement */
    double restart_max_s;       /* longest kill-to-READY */
    int visits;                 /* of the scenario */
    int seen, seen_exact;       /* visits no blind window touched, and those charged exactly */
    int blinded, blinded_exact, blinded_missed; /* visits a blind window touched */
    int phantom;                                /* items charged that were not taken */
    int phantom_unreviewed;                     /* of those, in checkouts not sent to review */
    int stock_errors;                           /* ledger stock against the truth */
    int items_taken;                            /* items in the truth's carts */
    int pickups;         /* distinct pickup events naming an item of the scenario */
    int pickups_missing; /* items taken for good without a pickup */
    int pickups_extra;   /* pickups beyond the times an item left its shelf */
    int double_charged;  /* an item in more than one checkout */
    /* Cloud commands (docs/mqtt.md, "Exactly once"): the cloud sends every command again after
     * each restart and once more at the end, as it would after lost replies. */
    int commands;               /* distinct request ids the cloud sent */
    int command_replies;        /* replies received, repeats included */
    int commands_applied_twice; /* a request id answered as applied (not a repeat) twice */
    int commands_unanswered;    /* a request id with no reply at all */
    int commands_inconsistent;  /* a repeat whose status or result differs from the first */
    bool check_failed;
    char detail[192]; /* the last problem found */
};

/*
 * Runs sc with `storekeeper run` in a child process, SIGKILLed co->kills times at moments
 * drawn from co->seed and started again each time, then drained and checked (sim_crash.c).
 * Returns 0 with ret and rep filled (free ret with sim_result_free), or < 0 with a message.
 */
int sim_run_crash(const struct scenario *sc,
                  const struct sim_opts *opts,
                  const struct sim_crash_opts *co,
                  struct sim_result *ret,
                  struct sim_crash_report *rep);

/* Whether every check passed (the score is judged by the caller). */
bool sim_crash_ok(const struct sim_crash_report *rep, const struct sim_result *res);

#endif
