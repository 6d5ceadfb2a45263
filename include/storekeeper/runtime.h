/* SPDX-License-Identifier: MIT */
/* `storekeeper run`: wires config, queue, core, loop, signals and the producer services. */
#ifndef STOREKEEPER_RUNTIME_H
#define STOREKEEPER_RUNTIME_H

#include <stdbool.h>

#include "storekeeper/config.h"
#include "storekeeper/core.h"
#include "storekeeper/ledger.h"
#include "storekeeper/loop.h"
#include "storekeeper/queue.h"

struct sk_runtime;
struct sk_service;

struct sk_runtime_opts {
    const char *config_path;
    const char *board;       /* --board override, or NULL */
    double duration_s;       /* stop after this long; 0: run until signalled */
    const char *record_path; /* write every observation and tick there (`run --record`); NULL */
    /* Services in start order, NULL-terminated (the executable's firmware/services/services.c). */
    const struct sk_service *const *services;
};

/* Runs the daemon until SIGTERM/SIGINT or the duration ends. Returns the process exit code
 * (SK_EXIT_OK clean stop, SK_EXIT_FAILURE run-time failure, SK_EXIT_USAGE configuration
 * error: storekeeper/args.h). Signals SIGINT, SIGTERM and SIGHUP must be blocked in every
 * thread before this is called (sk_block_signals()). */
int sk_runtime_main(const struct sk_runtime_opts *opts);

/* Blocks the signals the core handles through signalfd; call first thing in main(). */
void sk_block_signals(void);

/*
 * A service is a producer or consumer around the core (bus threads, cameras, MQTT link).
 * start runs on the core thread after the queue and loop exist; stop is called in reverse
 * order at shutdown; reload (optional) gets a validated new config before the core does.
 */
struct sk_service {
    const char *name;
    int (*start)(struct sk_runtime *rt, void **ret_state);
    void (*stop)(void *state);
    /* Optional: a validated new config, before the core gets it. Negative: kept old settings. */
    int (*reload)(void *state, const struct sk_config *new_cfg);
    /* Optional: sees every observation on the core thread before the core does. Returns 1
     * when the observation was the service's own (e.g. MQTT PUBACKs) and the core must not
     * see it, 0 to pass it on. */
    int (*handle)(void *state, const struct sk_obs *obs);
    /* Optional: before any handle, may replace the observation by the one it stands for (a
     * satellite's message by the observation it carries), releasing what it owned. Returns 1
     * when the observation is to be dropped (nobody sees it), 0 to go on with *obs. What the
     * core gets is what `run --record` records. */
    int (*rewrite)(void *state, struct sk_obs *obs);
};

/* Accessors for services. All borrowed; valid while the runtime runs. */
const struct sk_config *sk_runtime_config(struct sk_runtime *rt);
struct sk_queue *sk_runtime_queue(struct sk_runtime *rt);
struct sk_loop *sk_runtime_loop(struct sk_runtime *rt);
struct sk_core *sk_runtime_core(struct sk_runtime *rt);
const struct sk_clock *sk_runtime_clock(struct sk_runtime *rt);
/* The ledger (opened before any service starts, closed after the last one stopped). Use it
 * on the core thread only: from start/stop/reload/handle and loop callbacks. */
struct sk_ledger *sk_runtime_ledger(struct sk_runtime *rt);
/* 0 while the ledger takes writes; else the error (SK_ELEDGER_FULL, -EIO, ...) that made the
 * runtime degraded: observations wait in the queue until a retry commits (docs/ledger.md,
 * "Disk full"). For health reports. */
int sk_runtime_ledger_error(struct sk_runtime *rt);

/*
 * Reloads the configuration file as SIGHUP does: the new config replaces the running one only
 * when it is valid and every change is reloadable. Core thread only. Returns 0 when reloaded,
 * SK_ECONFIG when the file is invalid, -EPERM when a change needs a restart; the reasons are
 * appended to report (may be NULL), one line each. The running config may have been replaced
 * when this returns: call sk_runtime_config() again.
 */
int sk_runtime_reload(struct sk_runtime *rt, struct sk_diag *report);

/* The state a started service's start() returned, by service name; NULL when that service
 * is not (or no longer) running. Core thread only (diagnostics reach the RFID service so). */
void *sk_runtime_service_state(struct sk_runtime *rt, const char *name);

struct sk_runtime_stats {
    int64_t started_wall_us;
    bool degraded;             /* the ledger cannot be written: observations wait */
    int last_err;              /* why, when degraded */
    int64_t degraded_since_us; /* monotonic */
    uint64_t batches;          /* ledger transactions committed */
    uint64_t retries;          /* retries of a failed batch */
    size_t batch_held;         /* observations of the open or held batch */
    char config_path[SK_PATH_MAX];
    /* The catalog files' last import at start or reload: the first problem of a file that
     * was not imported and how many it had ("" when every file imported or was unchanged). */
    char catalog_error[2 * SK_PATH_MAX];
};

void sk_runtime_get_stats(struct sk_runtime *rt, struct sk_runtime_stats *ret);

#endif
